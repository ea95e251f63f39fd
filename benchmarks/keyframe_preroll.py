"""What decoding from the keyframe before the segment costs on long-GOP sources, with and without an index.

N synthetic 60-second sources (480x360, 25 fps, H.264 + AAC) are made with a keyframe every ``--gops``
seconds, as mp4 (an index: ffmpeg's input seek lands on the keyframe) and remuxed to MPEG-TS (no index:
fetch's probe scans packets back to the keyframe, the pass decodes from it). Every source gives the same
``--segments`` 10-s segments at seeded random starts. Each set runs as the command a user types,
``valor-data fetch IDS --source local --workers 1`` (and ``--source mirror`` for the longest GOP: the scan
reads over HTTP Range requests), and the manifest's per-clip times are summarised: ``download_s``
(resolving and reading the header, the keyframe scan included) and ``process_s`` (the pass, reading back,
the checks), the CPU time of the whole run per clip (steadier than wall time on a shared machine), and the
mean distance decoded before the segment (``preroll``).

A second figure measures the CPU time of the pass's own ffmpeg command with and without the two
``metadata`` filters that write the decoded frames' times (the ``gap`` check), alternating, on the mp4
sources of the shortest GOP.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pyarrow.parquet as pq

from valor_data.fetch.normalize import Cut, NormalizeOptions, build_command, frames_file, local_input
from valor_data.synthetic.media import make_clip, run_ffmpeg
from valor_data.synthetic.mirror import Mirror

DURATION = 60.0
SEGMENT_S = 10.0
VALOR_DATA = [sys.executable, "-m", "valor_data.cli"]


def make_sources(src: Path, n: int, gop: int, workers: int) -> list[str]:
    """``n`` sources with a keyframe every ``gop`` seconds, as ``{id}.mp4`` and ``{id}.ts``; returns the ids."""
    ids = [f"kf{gop:02d}s{i:06d}" for i in range(n)]
    src.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        mp4, ts = src / f"{ids[i]}.mp4", src / f"{ids[i]}.ts"
        if not mp4.is_file():
            make_clip(mp4, "ok", duration=DURATION, size=(480, 360), fps=25, seed=i, keyint=gop * 25)
        if not ts.is_file():
            run_ffmpeg(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy",
                        "-f", "mpegts", str(ts)], ts.name)  # fmt: skip

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    return ids


def ids_lines(ids: list[str], segments: int, seed: int) -> str:
    rng = random.Random(seed)
    starts = [round(rng.uniform(5.0, DURATION - SEGMENT_S - 5.0), 3) for _ in range(segments)]
    return "".join(f"{y}_{s:.3f}_{s + SEGMENT_S:.3f}\n" for y in ids for s in starts)


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes and theirs: steadier than wall time on a
    shared machine."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def fetch_set(ids_file: Path, out: Path, source_args: list[str]) -> dict:
    """One fetch run; the medians of its clips' times and the mean preroll."""
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run([*VALOR_DATA, "fetch", str(ids_file), "--out", str(out), *source_args, "--workers", "1",
                           "--no-progress", "--json"], capture_output=True, text=True)  # fmt: skip
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"valor-data fetch failed (rc {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    bad = [(r["clip_id"], r["status"], r["message"]) for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"fetch did not keep every clip: {bad[:3]}")
    probes = [json.loads(r["probe"]) for r in rows]
    return {"clips": len(rows), "wall_s": round(wall, 3), "cpu_s_per_clip": round(cpu / len(rows), 4),
            "download_s": round(statistics.median(r["download_s"] for r in rows), 4),
            "process_s": round(statistics.median(r["process_s"] for r in rows), 4),
            "preroll_s": round(statistics.fmean(p["output"].get("preroll", 0.0) for p in probes), 3)}


@contextlib.contextmanager
def only_container(src: Path, container: str) -> Iterator[Path]:
    """A folder of links to the sources of one container (``--video-dir`` would pick mp4 before ts)."""
    path = src.parent / f"{src.name}_{container}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    for f in src.glob(f"*.{container}"):
        os.link(f, path / f.name)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def frame_times_cost(sources: list[Path], work: Path, repeats: int) -> dict:
    """The pass's command with and without the frame-times filters, alternated: CPU seconds per pass."""
    opts = NormalizeOptions()
    times: dict[str, list[float]] = {"with": [], "without": []}
    for r in range(repeats):
        for i, src in enumerate(sources):
            cut = Cut(20.0, SEGMENT_S, Fraction(25))
            cmd = build_command([local_input(src)], cut, work / f"{i}.mp4", work / f"{i}.flac", opts)
            graph = cmd.index("-filter_complex") + 1
            bare = list(cmd)
            bare[graph] = ",".join(f for f in cmd[graph].split(",") if not f.startswith("metadata="))
            order = [("with", cmd), ("without", bare)]
            for name, args in order if (r + i) % 2 == 0 else reversed(order):
                cpu0 = _children_cpu()
                subprocess.run(args, capture_output=True, check=True)
                times[name].append(_children_cpu() - cpu0)
            frames_file(work / f"{i}.mp4").unlink(missing_ok=True)
    with_s, without_s = statistics.median(times["with"]), statistics.median(times["without"])
    return {"passes": len(times["with"]), "with_cpu_s": round(with_s, 4), "without_cpu_s": round(without_s, 4),
            "cost_pct": round(100 * (with_s / without_s - 1), 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=4, help="sources per GOP (default 4)")
    ap.add_argument("--segments", type=int, default=4, help="10-s segments per source (default 4)")
    ap.add_argument("--gops", type=int, nargs="+", default=[2, 10], help="keyframe intervals, s (default 2 10)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of the frame-times figure (default 3)")
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found on PATH: install it (Debian/Ubuntu: apt-get install ffmpeg)")
    work = args.work or Path(tempfile.mkdtemp(prefix="valor-bench-keyframe-"))
    figures: dict = {"load": [round(os.getloadavg()[0], 2)], "sets": []}
    try:
        for gop in args.gops:
            src = work / f"src{gop}"
            ids = make_sources(src, args.sources, gop, 2)
            ways = ["local", "mirror"] if gop == max(args.gops) else ["local"]
            for container in ("mp4", "ts"):
                ids_file = work / f"ids{gop}{container}.txt"
                ids_file.write_text(ids_lines(ids, args.segments, seed=gop))
                with only_container(src, container) as only, Mirror(only) as mirror:
                    source_args = {"local": ["--source", "local", "--video-dir", str(only)],
                                   "mirror": ["--source", "mirror", "--url-template",
                                              f"{mirror.base_url}/{{ytid}}.{container}"]}
                    for way in ways:
                        out = work / f"out{gop}{container}{way}"
                        shutil.rmtree(out, ignore_errors=True)
                        figures["sets"].append({"gop_s": gop, "container": container, "source": way,
                                                **fetch_set(ids_file, out, source_args[way])})
                        print(json.dumps(figures["sets"][-1]), file=sys.stderr)
        mp4s = sorted((work / f"src{min(args.gops)}").glob("*.mp4"))
        (work / "frames").mkdir(exist_ok=True)
        figures["frame_times"] = frame_times_cost(mp4s, work / "frames", args.repeats)
        figures["load"].append(round(os.getloadavg()[0], 2))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print(f"keyframe_preroll: {args.sources} sources x {args.segments} segments of {SEGMENT_S:g} s per set, "
              f"load average {figures['load'][0]:.1f} -> {figures['load'][1]:.1f}")
        print("  GOP  container source  download_s  process_s  CPU s/clip  preroll_s (medians per clip; CPU, preroll: "
              "means)")
        for s in figures["sets"]:
            print(f"  {s['gop_s']:>3} {s['container']:>9} {s['source']:>7} {s['download_s']:>11.3f} "
                  f"{s['process_s']:>10.3f} {s['cpu_s_per_clip']:>11.3f} {s['preroll_s']:>10.2f}")
        ft = figures["frame_times"]
        print(f"  frame times for the gap check: {ft['with_cpu_s']:.3f} CPU s a pass with, {ft['without_cpu_s']:.3f} without "
              f"({ft['cost_pct']:+.1f} %, median of {ft['passes']})")
    return figures


if __name__ == "__main__":
    main()
