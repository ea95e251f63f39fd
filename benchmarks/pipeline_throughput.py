"""Throughput of `valor-data fetch` + `shard` against a bare ffmpeg loop doing the same cut and transcode.

N synthetic 30-second source clips (480x360, 25 fps, H.264 + AAC stereo) are served by the embedded HTTP
mirror. Both sides take the 10-second segment 10-20 s of every clip from the same mirror URL, 2 at a time:

* pipeline: ``valor-data fetch IDS --source mirror --workers 2`` (yt-dlp resolves the URL, one ffmpeg per
  clip reads it with Range requests and writes the mp4 + flac, outputs read back and checked) then
  ``valor-data shard --workers 2``, each run as the command a user types (start-up included);
* baseline: per clip one bare ffmpeg reading the URL with ``-ss/-t``, writing H.264 at 224 short side without
  audio (same preset and CRF as fetch's defaults) and 16 kHz mono FLAC, with ffmpeg's default threads;
* for reference, the same bare ffmpeg with x264 single-threaded (``-threads 1``), as fetch runs it for
  byte-identical reruns: on a machine shared with other jobs the scheduler gives a process a share of CPU per
  thread, which favours the default (multi-threaded) baseline.

Prints clips/s for each and the ratio of wall times (goal: fetch + shard at >= 0.9x the baseline's clips/s,
i.e. a time ratio <= 1.11). The rounds alternate the sides so that load from other processes hits all of
them; the ratio reported is the median of the per-round ratios. The load average is printed with every round.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from valor_data.synthetic.media import make_clip
from valor_data.synthetic.mirror import Mirror

SEGMENT = (10.0, 20.0)
VALOR_DATA = [sys.executable, "-m", "valor_data.cli"]


def make_sources(src: Path, n: int, workers: int) -> list[str]:
    """``n`` synthetic 30-second clips named by 11-char YouTube-like ids; returns the ids."""
    ids = [f"bench{i:06d}" for i in range(n)]
    src.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(n) if not (src / f"{ids[i]}.mp4").is_file()]  # a kept --work is reused
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: make_clip(src / f"{ids[i]}.mp4", "ok", duration=30.0, size=(480, 360), fps=25,
                                          seed=i), missing))  # fmt: skip
    return ids


GOAL = 1 / 0.9  # fetch + shard time over the baseline's


def bare_ffmpeg(urls: list[str], out: Path, workers: int, short_side: int, preset: str, crf: int,
                x264_threads: int | None = None) -> float:
    """The baseline: the same segment cut and transcoded by one ffmpeg per clip, ``workers`` at a time."""
    out.mkdir(parents=True, exist_ok=True)
    start, end = SEGMENT

    def one(i: int) -> None:
        cmd = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-ss", f"{start:.3f}", "-t", f"{end - start:.3f}", "-i", urls[i],
            "-map", "0:v:0", "-vf", f"scale=-2:{short_side}", "-c:v", "libx264", "-preset", preset,
            "-crf", str(crf), "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart",
            *(["-threads", str(x264_threads)] if x264_threads else []), str(out / f"{i}.mp4"),
            "-map", "0:a:0", "-ac", "1", "-ar", "16000", "-c:a", "flac", "-vn", str(out / f"{i}.flac"),
        ]  # fmt: skip
        subprocess.run(cmd, check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(len(urls))))
    return time.perf_counter() - t0


def run_cli(args: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([*VALOR_DATA, *args, "--json"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"valor-data {args[0]} failed (rc {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return seconds, json.loads(proc.stdout)


def pipeline(ids_file: Path, url_template: str, out: Path, workers: int, n: int) -> dict:
    fetch_dir, shard_dir = out / "fetch", out / "shards"
    fetch_s, fetched = run_cli(["fetch", str(ids_file), "--out", str(fetch_dir), "--source", "mirror",
                                "--url-template", url_template, "--workers", str(workers), "--no-progress"])  # fmt: skip
    if fetched["counts"].get("ok") != n:
        raise SystemExit(f"fetch did not get every clip: {fetched['counts']}")
    shard_s, sharded = run_cli(["shard", str(fetch_dir), "--out", str(shard_dir), "--workers", str(workers)])
    if sharded["samples"] != n:
        raise SystemExit(f"shard wrote {sharded['samples']} samples, expected {n}")
    digest = hashlib.sha256()
    for path in sorted((fetch_dir / "clips").rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return {"fetch_s": fetch_s, "shard_s": shard_s, "total_s": fetch_s + shard_s, "shard_dir": shard_dir,
            "fallbacks": fetched.get("fallbacks", 0), "media_sha256": digest.hexdigest()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=16, help="synthetic source clips (default 16)")
    ap.add_argument("--workers", type=int, default=2, help="parallelism on both sides (default 2)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating baseline/pipeline rounds (median kept)")
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (its sources are reused)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found on PATH: install it (Debian/Ubuntu: apt-get install ffmpeg)")

    work = args.work or Path(tempfile.mkdtemp(prefix="valor-bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    for old in [*work.glob("ffmpeg*"), *work.glob("pipeline*")]:  # sources are kept: they take minutes to make
        shutil.rmtree(old)
    try:
        t0 = time.perf_counter()
        ids = make_sources(work / "src", args.clips, args.workers)
        print(f"{args.clips} 30 s source clips ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        ids_file = work / "ids.txt"
        ids_file.write_text("".join(f"{y}_{SEGMENT[0]:.3f}_{SEGMENT[1]:.3f}\n" for y in ids))
        rounds = []
        with Mirror(work / "src") as mirror:
            urls = [mirror.url(f"{y}.mp4") for y in ids]
            for r in range(args.rounds):
                load = os.getloadavg()[0]
                sides = {
                    "ffmpeg": lambda r=r: bare_ffmpeg(urls, work / f"ffmpeg{r}", args.workers, 224, "veryfast", 23),
                    "ffmpeg_t1": lambda r=r: bare_ffmpeg(urls, work / f"ffmpeg_t1_{r}", args.workers, 224, "veryfast",
                                                         23, x264_threads=1),
                    "pipeline": lambda r=r: pipeline(ids_file, mirror.url_template, work / f"pipeline{r}",
                                                     args.workers, args.clips),
                }
                order = list(sides) if r % 2 == 0 else list(reversed(sides))  # alternate against drifting load
                got = {name: sides[name]() for name in order}
                got["load"] = (load, os.getloadavg()[0])
                rounds.append(got)
                p = got["pipeline"]
                print(f"round {r + 1} (load {load:.1f} -> {got['load'][1]:.1f}): ffmpeg {got['ffmpeg']:.2f} s, "
                      f"ffmpeg -threads 1 {got['ffmpeg_t1']:.2f} s, fetch {p['fetch_s']:.2f} s + shard "
                      f"{p['shard_s']:.2f} s", file=sys.stderr)  # fmt: skip
        pipe = [g["pipeline"] for g in rounds]
        verify = subprocess.run([*VALOR_DATA, "verify", str(pipe[-1]["shard_dir"]), "--json"], capture_output=True,
                                text=True)  # fmt: skip
        if verify.returncode != 0:
            raise SystemExit(f"verify found problems in the benchmark shards: {verify.stdout[-2000:]}")
        identical = len({p["media_sha256"] for p in pipe}) == 1
        base = statistics.median(g["ffmpeg"] for g in rounds)
        base_t1 = statistics.median(g["ffmpeg_t1"] for g in rounds)
        total = statistics.median(p["total_s"] for p in pipe)
        # Each round pairs the baselines with a pipeline run under the same load: the ratio is their median.
        round_ratios = [g["pipeline"]["total_s"] / g["ffmpeg"] for g in rounds]
        figures = {
            "clips": args.clips,
            "workers": args.workers,
            "rounds": args.rounds,
            "segment_s": SEGMENT[1] - SEGMENT[0],
            "load": [[round(x, 2) for x in g["load"]] for g in rounds],
            "ffmpeg_s": round(base, 3),
            "ffmpeg_clips_per_s": round(args.clips / base, 3),
            "ffmpeg_threads1_s": round(base_t1, 3),
            "ffmpeg_threads1_clips_per_s": round(args.clips / base_t1, 3),
            "fetch_s": round(statistics.median(p["fetch_s"] for p in pipe), 3),
            "shard_s": round(statistics.median(p["shard_s"] for p in pipe), 3),
            "pipeline_s": round(total, 3),
            "pipeline_clips_per_s": round(args.clips / total, 3),
            "ratio": round(statistics.median(round_ratios), 3),
            "round_ratios": [round(x, 3) for x in round_ratios],
            "ratio_vs_threads1": round(statistics.median(g["pipeline"]["total_s"] / g["ffmpeg_t1"] for g in rounds), 3),
            "clips_per_s_ratio": round(statistics.median(1 / x for x in round_ratios), 3),
            "goal_ratio": round(GOAL, 3),
            "media_identical_across_rounds": identical,
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        loads = ", ".join(f"{a:.1f}-{b:.1f}" for a, b in figures["load"])
        print(f"pipeline_throughput: {args.clips} clips x {figures['segment_s']:.0f} s, workers {args.workers}, "
              f"load average {loads}")
        print(f"  bare ffmpeg              {figures['ffmpeg_clips_per_s']:6.2f} clips/s  ({base:.2f} s)")
        print(f"  bare ffmpeg, -threads 1  {figures['ffmpeg_threads1_clips_per_s']:6.2f} clips/s  ({base_t1:.2f} s)")
        print(f"  fetch + shard            {figures['pipeline_clips_per_s']:6.2f} clips/s  ({total:.2f} s = fetch "
              f"{figures['fetch_s']:.2f} + shard {figures['shard_s']:.2f})")  # fmt: skip
        verdict = "meets" if figures["ratio"] <= GOAL else "misses"
        rounds_text = ", ".join(f"{r:.2f}" for r in figures["round_ratios"])
        print(f"  fetch + shard at {figures['clips_per_s_ratio']:.2f}x the bare ffmpeg clips/s (time ratio "
              f"{figures['ratio']:.2f}, rounds {rounds_text}; {verdict} the goal of >= 0.9x); "
              f"{figures['ratio_vs_threads1']:.2f}x the time of ffmpeg -threads 1")  # fmt: skip
        print(f"  media bytes identical across rounds: {identical}")
    return figures


if __name__ == "__main__":
    main()
