"""The synthetic audiovisual sanity task: does VALOR-tiny learn from both modalities? (the paper's Fig. 6)

Every stage is the command a user types, run in a subprocess:

1. ``valor_data.synthetic.av_task.generate``: 2,000 train + 200 test source videos (coloured shape moving over
   a plain background + a tone; captions like "a red square moves left while a low tone beeps fast"; the
   200 test clips have distinct (visual, audio) combinations);
2. ``valor-data fetch ids --source local --video-dir videos`` (probe, filters, normalise);
3. ``valor-data shard`` twice, with ``--ids`` and ``--captions`` for the train and the test split;
4. ``valor-model train --config tiny`` on CPU;
5. ``valor-model predict --task avr|avc --modality av|v|a`` on the test shards;
6. ``valor-bench evaluate --annotations desc_test.json --json``.

Prints text-to-video R@1/R@5 and CIDEr/BLEU-4 per modality next to the R@1 a perfect model seeing only
that modality would expect (clips sharing the visible factors are indistinguishable: ~24 % for V, 7.5 % for A).
Expected: AV R@1 >= 60 and >= 20 points above both V and A. Stages are cached in --work; --fresh
restarts the training and prediction stages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from valor_data.synthetic.av_task import generate, modality_ceilings, plan

VALOR_DATA = [sys.executable, "-m", "valor_data.cli"]
VALOR_MODEL = [sys.executable, "-m", "valor_model.cli"]
VALOR_BENCH = [sys.executable, "-m", "valor_bench.cli"]
TRAIN_BUDGET_S = 900  # the budget for training tiny on a 2-core CPU


def run(cmd: list[str], log: Path, env: dict | None = None) -> float:
    """Run a stage, its output appended to ``log``; returns the wall time. Fails loudly with the log tail."""
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                              check=False)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise SystemExit(f"stage failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return time.perf_counter() - start


def make_data(work: Path, args: argparse.Namespace, log: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    src = work / "source"
    if not (work / "shards" / "test" / "stats.json").is_file():
        start = time.perf_counter()
        paths = generate(src, n_train=args.train_clips, n_test=args.test_clips, seed=args.seed,
                         side=args.side, fps=args.fps, duration=args.duration, workers=args.workers)
        times["render"] = time.perf_counter() - start
        ids = work / "ids_all.txt"
        ids.write_text(paths["ids_train"].read_text() + paths["ids_test"].read_text())
        times["fetch"] = run([*VALOR_DATA, "fetch", str(ids), "--input-format", "ids", "--source", "local",
                              "--video-dir", str(paths["videos"]), "--out", str(work / "fetch"),
                              "--short-side", str(args.side - args.side % 2), "--min-duration", "1.5",
                              "--workers", str(args.workers), "--no-progress"], log)
        times["shard"] = 0.0
        for split in ("train", "test"):
            times["shard"] += run([*VALOR_DATA, "shard", str(work / "fetch"), "--out", str(work / "shards" / split),
                                   "--ids", str(paths[f"ids_{split}"]), "--captions", str(paths[f"desc_{split}"]),
                                   "--prefix", split, "--shard-size", "250", "--workers", str(args.workers)], log)
    return times


def train(work: Path, args: argparse.Namespace, log: Path) -> float:
    run_dir = work / "run"
    if (run_dir / "checkpoints" / "latest").is_file():
        return 0.0
    cmd = [*VALOR_MODEL, "train", "--config", "tiny", "--train-shards", str(work / "shards" / "train"),
           "--out", str(run_dir), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--lr", str(args.lr), "--warmup-steps", str(args.warmup_steps), "--num-workers", str(args.num_workers),
           "--seed", str(args.seed),
           "--log-every", "20", "--checkpoint-every", "1000", "--no-progress", "--device", "cpu"]
    for item in args.override:
        cmd += ["--override", item]
    if args.text_weights:
        cmd += ["--text-weights", args.text_weights]
    cmd += args.train_opt
    return run(cmd, log, env={"OMP_NUM_THREADS": str(args.threads)})


def evaluate(work: Path, args: argparse.Namespace, log: Path) -> dict[str, dict]:
    gt = work / "source" / "desc_test.json"
    results: dict[str, dict] = {}
    for modality in ("av", "v", "a"):
        results[modality] = {}
        for task, suffix in (("avr", "npz"), ("avc", "json")):
            out = work / "pred" / f"{task}_{modality}.{suffix}"
            if not out.is_file():
                run([*VALOR_MODEL, "predict", "--task", task, "--checkpoint", str(work / "run"), "--shards",
                     str(work / "shards" / "test"), "--modality", modality, "--out", str(out), "--batch-size", "50",
                     "--num-workers", "1", "--no-progress"], log)
            proc = subprocess.run([*VALOR_BENCH, "evaluate", str(out), "--task", task, "--annotations", str(gt),
                                   "--json"], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"valor-bench evaluate failed on {out}: {proc.stdout}{proc.stderr}")
            results[modality][task] = json.loads(proc.stdout)["metrics"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("bench_out/synthetic_av"))
    parser.add_argument("--train-clips", type=int, default=2000)
    parser.add_argument("--test-clips", type=int, default=200)
    parser.add_argument("--side", type=int, default=96, help="source frame side (px)")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2, help="render / fetch / shard workers")
    parser.add_argument("--epochs", type=int, default=22)
    parser.add_argument("--batch-size", type=int, default=64,
                        help="64: twice the same-colour negatives per query of 32, which helped vision learn motion")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--num-workers", type=int, default=1, help="DataLoader workers of the training")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the training process")
    parser.add_argument("--override", action="append", default=[], help="model config override KEY=VALUE")
    parser.add_argument("--train-opt", action="append", default=[],
                        help="extra `valor-model train` option, e.g. --train-opt=--grad-clip=5 (repeatable)")
    parser.add_argument("--text-weights", default=None, help="e.g. minilm (offline MiniLM text encoder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="retrain and predict again (data kept)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        shutil.rmtree(work / "run", ignore_errors=True)
        shutil.rmtree(work / "pred", ignore_errors=True)
    log = work / "log.txt"
    times = make_data(work, args, log)
    times["train"] = train(work, args, log)
    start = time.perf_counter()
    results = evaluate(work, args, log)
    times["predict+evaluate"] = time.perf_counter() - start
    _, test = plan(args.train_clips, args.test_clips, args.seed)
    ceilings = modality_ceilings(test)
    metrics = [json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    end = next(m for m in reversed(metrics) if m.get("event") == "end")
    report = {"times_s": {k: round(v, 1) for k, v in times.items()}, "train": end,
              "train_samples_per_s": round(end["samples"]["ok"] / max(end["seconds"], 1e-9), 1),
              "ceilings_r1": ceilings, "results": results}
    (work / "report.json").write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
        return
    print(f"synthetic AV task: {args.train_clips} train / {args.test_clips} test clips "
          f"({args.duration:g} s, {args.side} px, {args.fps} fps); stage times (s): "
          + ", ".join(f"{k} {v:.0f}" for k, v in times.items() if v))
    print(f"training: {end['step']} steps, {end['seconds']:.0f} s (budget {TRAIN_BUDGET_S} s on 2 CPU cores), "
          f"{report['train_samples_per_s']} samples/s (incl. data loading), "
          f"skipped {sum(v for k, v in end['samples'].items() if k != 'ok')}")
    print(f"{'modality':<9}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'perfect R@1':>13}{'CIDEr':>8}{'BLEU-4':>8}")
    for m in ("av", "v", "a"):
        t2v, cap = results[m]["avr"]["t2v"], results[m]["avc"]
        print(f"{m.upper():<9}{t2v['R@1']:>7.1f}{t2v['R@5']:>7.1f}{t2v['R@10']:>7.1f}{ceilings[m]:>13.1f}"
              f"{cap['CIDEr']:>8.1f}{cap['BLEU-4']:>8.1f}")
    av, v, a = (results[m]["avr"]["t2v"]["R@1"] for m in ("av", "v", "a"))
    ok = av >= 60 and av - max(v, a) >= 20
    print(f"AV R@1 {av:.1f} vs V {v:.1f} / A {a:.1f}: {'meets' if ok else 'MISSES'} the target "
          "(AV >= 60 and >= 20 points above both)")


if __name__ == "__main__":
    main()
