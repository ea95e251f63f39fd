"""`valor-data fetch` bookkeeping at VALOR-1M scale: a million ids through a source that fails at once.

The ids are shaped like AudioSet's unbalanced-train CSV (three ``#`` lines, then ``YTID, start, end,
"labels"``; random 11-character ids, about one in 64 starting with ``-``; real label mids). They run
through ``valor-data fetch --source local`` on an empty ``--video-dir``: every clip fails as
``unavailable`` straight away, so what is timed is the bookkeeping alone - reading and planning, the
journal, the per-task done-markers, the manifest merge, the locks and the progress.

Printed (and checked against the targets of issue 13 item 4):
* wall time of the first run, and its clip rate in the first and the last tenth of the clips (from the
  command's own progress lines, one every ``--interval`` seconds; target: last >= 0.8 x first);
* bytes written by the whole process tree (``write_bytes`` of ``/proc/self/io``, which includes every
  reaped descendant; ``cancelled_write_bytes`` - data deleted before it reached the disk - is printed
  apart and not subtracted), per failed clip (target <= 1 KB), and what is left on disk (``du``);
* peak memory, sampled every 0.2 s over the process tree: the largest sum of RSS (pages that forked
  workers share with the parent counted in each: an upper bound; target <= 2 GB) and of PSS (shared pages
  split between their users), and the largest single process (``ru_maxrss``);
* the rerun of the finished job, which must change nothing (target <= 30 s);
* the load average before and after (the machine may be shared: compare figures at similar load).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

VALOR_DATA = [sys.executable, "-m", "valor_data.cli"]
YTID_CHARS = string.ascii_letters + string.digits + "-_"
PROGRESS_RE = re.compile(r"^fetch: (?:done )?([\d,]+)/([\d,]+) clip")
TARGETS = {"minutes": 10.0, "tail_ratio": 0.8, "bytes_per_clip": 1024, "peak_rss_gb": 2.0, "rerun_s": 30.0}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_ids(path: Path, n: int, seed: int = 0) -> None:
    """An AudioSet-unbalanced-train-shaped CSV of ``n`` unique clips (real label mids when available)."""
    rng = random.Random(seed)
    mids = _label_mids()
    seen: set[str] = set()
    with path.open("w", encoding="utf-8") as f:
        f.write("# Segments csv created by benchmarks/fetch_scale.py\n")
        f.write(f"# num_ytids={n}, num_segs={n}, num_unique_labels={len(mids)}\n")
        f.write("# YTID, start_seconds, end_seconds, positive_labels\n")
        while len(seen) < n:
            ytid = "".join(rng.choices(YTID_CHARS, k=11))
            if ytid in seen:
                continue
            seen.add(ytid)
            start = rng.choice((0, 10, 20, 30, 30, 30, 40, 60, 90, 120)) + rng.choice((0, 0, 0, 0.5, 2.25))
            labels = ",".join(rng.sample(mids, rng.choice((1, 1, 2, 2, 3, 4))))
            f.write(f'{ytid}, {start:.3f}, {start + 10:.3f}, "{labels}"\n')


def _label_mids() -> list[str]:
    try:
        from valor_data.ontology import load_ontology

        return sorted(load_ontology().classes)
    except Exception:  # the benchmark only needs plausible label strings
        return [f"/m/0{i:05d}" for i in range(527)]


def read_io() -> dict[str, int]:
    """This process's I/O counters; reaped children's are added to them by the kernel."""
    out = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        k, v = line.split(":")
        out[k.strip()] = int(v)
    return out


def tree_memory(root: int) -> tuple[int, int]:
    """Sums over ``root`` and all its descendants of RSS (pages shared by forked processes counted in each)
    and of PSS (shared pages split between their users: the memory the tree really takes), in bytes."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    rss = pss = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Rss:", "Pss:")):
                    kb = int(line.split()[1]) * 1024
                    rss, pss = (rss + kb, pss) if line.startswith("Rss:") else (rss, pss + kb)
        except (OSError, ValueError, IndexError):
            continue
    return rss, pss


def run_fetch(cmd: list[str], interval: float) -> dict:
    """Run the command; collect its progress lines with timestamps, the tree's peak RSS and its I/O."""
    env = {**os.environ, "VALOR_PROGRESS_INTERVAL": str(interval)}
    io0 = read_io()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    samples: list[tuple[float, int]] = []
    stderr_tail: list[str] = []
    peak = [0, 0]
    stop = threading.Event()

    def read_progress() -> None:
        for line in proc.stderr:
            now = time.monotonic() - t0
            m = PROGRESS_RE.match(line)
            if m:
                samples.append((now, int(m.group(1).replace(",", ""))))
            else:
                stderr_tail.append(line)
                del stderr_tail[:-20]

    def watch_memory() -> None:
        while not stop.wait(0.2):
            rss, pss = tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)

    readers = [threading.Thread(target=read_progress, daemon=True), threading.Thread(target=watch_memory, daemon=True)]
    for t in readers:
        t.start()
    stdout = proc.stdout.read()
    proc.wait()
    seconds = time.monotonic() - t0
    stop.set()
    for t in readers:
        t.join()
    io1 = read_io()
    if proc.returncode != 0:
        raise SystemExit(f"fetch failed (rc {proc.returncode}): {''.join(stderr_tail)[-3000:]}")
    return {"seconds": seconds, "summary": json.loads(stdout), "samples": samples, "peak_tree_rss": peak[0], "peak_tree_pss": peak[1],
            "write_bytes": io1["write_bytes"] - io0["write_bytes"],
            "cancelled_write_bytes": io1["cancelled_write_bytes"] - io0["cancelled_write_bytes"]}


def time_at(samples: list[tuple[float, int]], n: float) -> float:
    """When the count reached ``n``, interpolated between the progress samples around it."""
    prev_t, prev_n = samples[0]
    for t, c in samples:
        if c >= n:
            if c == prev_n:
                return t
            return prev_t + (t - prev_t) * (n - prev_n) / (c - prev_n)
        prev_t, prev_n = t, c
    return samples[-1][0]


def tenth_rates(samples: list[tuple[float, int]], total: int) -> tuple[float, float]:
    """Clips/s over the first tenth (from the first progress with work done) and over the last tenth."""
    started = [(t, c) for t, c in samples if c > 0]
    if len(started) < 2:
        return float("nan"), float("nan")
    # the first finished tasks: the clock starts at the sample before them (the work began in between)
    before = [s for s in samples if s[1] == 0]
    t_start, n_start = before[-1] if before else started[0]
    tenth = total / 10
    first = tenth / max(1e-9, time_at(samples, n_start + tenth) - t_start)
    last = tenth / max(1e-9, time_at(samples, total) - time_at(samples, total - tenth))
    return first, last


def du(path: Path) -> int:
    proc = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    return int(proc.stdout.split()[0]) if proc.returncode == 0 else -1


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=1_000_000, help="ids to generate (default 1,000,000)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="fetch --workers (default: the cores)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between progress lines (default 1)")
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="valor-bench-scale-"))
    shutil.rmtree(work, ignore_errors=True)
    (work / "empty").mkdir(parents=True)
    load_before = load_average()
    try:
        t = time.monotonic()
        ids = work / "unbalanced_train_segments.csv"
        write_ids(ids, args.clips)
        gen_s = time.monotonic() - t
        out = work / "out"
        cmd = [*VALOR_DATA, "fetch", str(ids), "--out", str(out), "--source", "local", "--video-dir",
               str(work / "empty"), "--workers", str(args.workers), "--json"]
        first = run_fetch(cmd, args.interval)
        print(f"first run: {first['seconds']:.1f} s, {first['write_bytes'] / args.clips:.0f} bytes written per clip, "
              f"peak tree RSS {first['peak_tree_rss'] / 2**20:.0f} MiB", file=sys.stderr)
        counts = first["summary"]["counts"]
        if counts != {"unavailable": args.clips}:
            raise SystemExit(f"expected {args.clips} unavailable clips, got {counts}")
        rerun = run_fetch(cmd, args.interval)
        if rerun["summary"]["counts"] != counts or rerun["summary"]["tasks_done_before"] != first["summary"]["tasks"]:
            raise SystemExit(f"the rerun did not find the job finished: {rerun['summary']}")
        on_disk = du(out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rate_first, rate_last = tenth_rates(first["samples"], args.clips)
    self_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    figures = {
        "clips": args.clips, "workers": args.workers, "tasks": first["summary"]["tasks"],
        "generate_ids_s": round(gen_s, 1),
        "first_run_s": round(first["seconds"], 1), "clips_per_s": round(args.clips / first["seconds"], 1),
        "rate_first_tenth": round(rate_first, 1), "rate_last_tenth": round(rate_last, 1),
        "tail_ratio": round(rate_last / rate_first, 3),
        "write_bytes": first["write_bytes"], "cancelled_write_bytes": first["cancelled_write_bytes"],
        "bytes_per_clip": round(first["write_bytes"] / args.clips, 1),
        "on_disk_bytes": on_disk,
        "peak_tree_rss_mb": round(first["peak_tree_rss"] / 2**20, 1),
        "peak_tree_pss_mb": round(first["peak_tree_pss"] / 2**20, 1),
        "peak_single_rss_mb": round(self_max / 2**20, 1),
        "rerun_s": round(rerun["seconds"], 1), "rerun_write_bytes": rerun["write_bytes"],
        "load_before": load_before, "load_after": load_average(),
    }
    checks = {
        "first run <= 10 min": figures["first_run_s"] <= TARGETS["minutes"] * 60,
        "last tenth >= 0.8 x first tenth": figures["tail_ratio"] >= TARGETS["tail_ratio"],
        "<= 1 KB written per clip": figures["bytes_per_clip"] <= TARGETS["bytes_per_clip"],
        "peak RSS <= 2 GB": figures["peak_tree_rss_mb"] <= TARGETS["peak_rss_gb"] * 1024,
        "rerun <= 30 s": figures["rerun_s"] <= TARGETS["rerun_s"],
    }
    figures["checks"] = checks
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        f = figures
        print(f"fetch_scale: {f['clips']:,} ids (AudioSet-unbalanced-shaped), --source local on an empty dir, "
              f"{f['workers']} workers, {f['tasks']:,} tasks; load average before {f['load_before']}, "
              f"after {f['load_after']}")
        print(f"  first run      {f['first_run_s']:8.1f} s  ({f['clips_per_s']:,.0f} clips/s overall)")
        print(f"  rate           first tenth {f['rate_first_tenth']:,.0f} clips/s, last tenth "
              f"{f['rate_last_tenth']:,.0f} clips/s: ratio {f['tail_ratio']:.2f}")
        print(f"  written        {f['write_bytes'] / 2**20:,.1f} MiB = {f['bytes_per_clip']:.0f} bytes per clip "
              f"(deleted before reaching the disk: {f['cancelled_write_bytes'] / 2**20:,.1f} MiB); "
              f"left in OUT: {f['on_disk_bytes'] / 2**20:,.1f} MiB")
        print(f"  peak memory    RSS {f['peak_tree_rss_mb']:,.0f} MiB summed over the process tree (shared pages "
              f"counted in every process), PSS {f['peak_tree_pss_mb']:,.0f} MiB; largest process "
              f"{f['peak_single_rss_mb']:,.0f} MiB")
        print(f"  rerun          {f['rerun_s']:8.1f} s, {f['rerun_write_bytes'] / 2**20:,.1f} MiB written")
        for name, ok in checks.items():
            print(f"  {'PASS' if ok else 'MISS'}  {name}")
    return figures


if __name__ == "__main__":
    main()
