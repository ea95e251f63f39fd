"""`valor-data fetch` + `shard` with `--distributor spark` (local[W]) against the default process pool.

N synthetic source clips (12 s, 320x240, 25 fps, H.264 + AAC) are served by the embedded HTTP mirror; both
sides fetch the segment 2-8 s of every clip with the same options and task size, then shard it, each run
as the command a user types (start-up included). Rounds alternate pool and Spark so that load from other
processes hits both; the ratio reported is the median of the per-round Spark/pool ratios. Spark's fixed
cost (starting a local session: the JVM, then its Python workers) is timed on its own in each round, so
the ratio without it (what remains on a cluster whose session is already up) is printed too. The tars of
both sides are compared byte for byte, and so are the fetched media files (when tars differ, it is
because a few x264 outputs of the fetch step differ, which happens between two pool runs too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
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

SEGMENT = (2.0, 8.0)
VALOR_DATA = [sys.executable, "-m", "valor_data.cli"]
SESSION_START = (
    "import time; from valor_data.engines.spark import SparkDistributor as S; t = time.perf_counter(); "
    "d = S(workers={w}); d.spark.sparkContext.parallelize([0], 1).count(); print(time.perf_counter() - t); d.stop()"
)


def make_sources(src: Path, n: int, workers: int) -> list[str]:
    ids = [f"spark{i:06d}" for i in range(n)]
    src.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: make_clip(src / f"{ids[i]}.mp4", "ok", duration=12.0, size=(320, 240), seed=i),
                      range(n)))  # fmt: skip
    return ids


def run_cli(args: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([*VALOR_DATA, *args, "--json"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"valor-data {args[0]} failed (rc {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return seconds, json.loads(proc.stdout)


def one_side(distributor: str, ids_file: Path, url_template: str, out: Path, workers: int, task_size: int,
             n: int) -> dict:
    fetch_dir, shard_dir = out / "fetch", out / "shards"
    common = ["--workers", str(workers), "--distributor", distributor]
    fetch_s, fetched = run_cli(["fetch", str(ids_file), "--out", str(fetch_dir), "--source", "mirror",
                                "--url-template", url_template, "--task-size", str(task_size), "--no-progress",
                                *common])  # fmt: skip
    if fetched["counts"].get("ok") != n:
        raise SystemExit(f"{distributor}: fetch did not get every clip: {fetched['counts']}")
    shard_s, sharded = run_cli(["shard", str(fetch_dir), "--out", str(shard_dir), "--shard-size",
                                str(task_size), *common])  # fmt: skip
    if sharded["samples"] != n:
        raise SystemExit(f"{distributor}: shard wrote {sharded['samples']} samples, expected {n}")
    tars = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(shard_dir.glob("*.tar"))}
    media = {p.relative_to(fetch_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((fetch_dir / "clips").rglob("*")) if p.is_file()}
    return {"fetch_s": fetch_s, "shard_s": shard_s, "total_s": fetch_s + shard_s, "tars": tars, "media": media}


def session_start_s(workers: int) -> float:
    proc = subprocess.run([sys.executable, "-c", SESSION_START.format(w=workers)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"could not start a local Spark session: {proc.stderr.strip()[-1000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=24, help="synthetic source clips (default 24)")
    ap.add_argument("--workers", type=int, default=2, help="pool workers / local[W] cores (default 2)")
    ap.add_argument("--task-size", type=int, default=3, help="clips per fetch task and per shard (default 3)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating pool/Spark rounds (median kept)")
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (to compare outputs)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    for tool in ("ffmpeg", "java"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH: this benchmark needs ffmpeg and Java 17")
    work = Path(args.work or tempfile.mkdtemp(prefix="valor-bench-spark-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        ids = make_sources(work / "src", args.clips, args.workers)
        ids_file = work / "ids.txt"
        ids_file.write_text("".join(f"{y}_{SEGMENT[0]:.3f}_{SEGMENT[1]:.3f}\n" for y in ids))
        pool, spark, starts = [], [], []
        with Mirror(work / "src") as mirror:
            for r in range(args.rounds):
                pool.append(one_side("multiprocessing", ids_file, mirror.url_template, work / f"pool{r}",
                                     args.workers, args.task_size, args.clips))  # fmt: skip
                spark.append(one_side("spark", ids_file, mirror.url_template, work / f"spark{r}", args.workers,
                                      args.task_size, args.clips))  # fmt: skip
                starts.append(session_start_s(args.workers))
                print(f"round {r + 1}: pool fetch {pool[-1]['fetch_s']:.1f} + shard {pool[-1]['shard_s']:.1f} s; "
                      f"spark fetch {spark[-1]['fetch_s']:.1f} + shard {spark[-1]['shard_s']:.1f} s; "
                      f"session start {starts[-1]:.1f} s", file=sys.stderr)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    identical = all(s["tars"] == p["tars"] for s, p in zip(spark, pool, strict=True))
    # Tars hold the fetched media: when they differ, count the media files that differ (x264 output of the
    # fetch step, independent of the distributor: two pool runs can differ the same way).
    media_diff = [sum(s["media"].get(k) != v for k, v in p["media"].items()) for s, p in zip(spark, pool, strict=True)]
    ratios = [s["total_s"] / p["total_s"] for s, p in zip(spark, pool, strict=True)]
    # Two commands, so two sessions started per Spark round.
    warm = [(s["total_s"] - 2 * t) / p["total_s"] for s, p, t in zip(spark, pool, starts, strict=True)]
    med = statistics.median
    figures = {
        "clips": args.clips, "workers": args.workers, "task_size": args.task_size, "rounds": args.rounds,
        "segment_s": SEGMENT[1] - SEGMENT[0],
        "pool_fetch_s": round(med(p["fetch_s"] for p in pool), 2), "pool_shard_s": round(med(p["shard_s"] for p in pool), 2),
        "spark_fetch_s": round(med(s["fetch_s"] for s in spark), 2),
        "spark_shard_s": round(med(s["shard_s"] for s in spark), 2),
        "session_start_s": round(med(starts), 2),
        "ratio": round(med(ratios), 3), "round_ratios": [round(x, 3) for x in ratios],
        "ratio_without_session_start": round(med(warm), 3),
        "identical_tars": identical, "media_files": len(pool[0]["media"]), "media_differing": media_diff,
    }  # fmt: skip
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        pool_s, spark_s = figures["pool_fetch_s"] + figures["pool_shard_s"], figures["spark_fetch_s"] + figures["spark_shard_s"]
        print(f"spark_vs_pool: {args.clips} clips x {figures['segment_s']:.0f} s, {args.workers} workers / local[{args.workers}], "
              f"task size {args.task_size}, {args.rounds} rounds (medians)")  # fmt: skip
        print(f"  multiprocessing  fetch {figures['pool_fetch_s']:6.1f} s + shard {figures['pool_shard_s']:5.1f} s "
              f"= {pool_s:6.1f} s  ({args.clips / pool_s:.2f} clips/s)")  # fmt: skip
        print(f"  spark local[{args.workers}]  fetch {figures['spark_fetch_s']:6.1f} s + shard {figures['spark_shard_s']:5.1f} s "
              f"= {spark_s:6.1f} s  ({args.clips / spark_s:.2f} clips/s)")  # fmt: skip
        print(f"  ratio spark/pool {figures['ratio']:.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)}); "
              f"without the 2 session starts ({figures['session_start_s']:.1f} s each): "
              f"{figures['ratio_without_session_start']:.2f}x")  # fmt: skip
        print(f"  byte-identical tars: {'yes' if identical else 'no'}; fetched media files that differ: "
              f"{', '.join(map(str, media_diff))} of {figures['media_files']} per round")
    return figures


if __name__ == "__main__":
    main()
