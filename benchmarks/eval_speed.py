"""How long `valor-bench evaluate` takes on the real VALOR-32K test split (3,491 clips), against the
baseline of calling pycocoevalcap directly one scorer after the other, in the same run.

AVC: a synthetic submission (each reference with ~30% of its words dropped, or another clip's caption
with --kind shuffled) is scored (1) by pycocoevalcap directly, as COCOEvalCap does, (2) by
`valor_bench.avc.score_captions` (METEOR's JVM started first, the other scorers in a worker process) and
(3) end to end by the `valor-bench evaluate` CLI (ground truth, validation, label join, breakdown). The
numbers of (1) and (2) must be identical.

AVR: a 3,491 x 3,491 matrix is ranked unchunked and chunked (same ranks), then an N x N matrix
(--avr-size) is streamed from an .npz by the CLI in a subprocess whose peak RSS is reported next to the
matrix size.

    .venv/bin/python benchmarks/eval_speed.py [--kind perturbed|shuffled] [--avr-size 10000] [--skip-avr] [--skip-avc]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from valor_bench.avc import score_captions  # noqa: E402
from valor_bench.avr import matrix_ranks  # noqa: E402
from valor_bench.formats import SimMatrix  # noqa: E402
from valor_bench.ground_truth import load_ground_truth  # noqa: E402

TIMES: dict[str, float] = {}  # CPU seconds of the last timed() call of each function


def synthetic_captions(gt, kind: str, seed: int = 0) -> dict[str, str]:
    rng = random.Random(seed)
    if kind == "shuffled":
        caps = [gt.captions[v][0] for v in gt.video_ids]
        rng.shuffle(caps)
        return dict(zip(gt.video_ids, caps, strict=True))
    out = {}
    for v in gt.video_ids:
        words = gt.captions[v][0].split()
        kept = [w for w in words if rng.random() > 0.3] or words[:1]
        out[v] = " ".join(kept)
    return out


def pycocoevalcap_direct(refs: dict, hyps: dict) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": hyps[k]}] for k in refs})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor, _ = Meteor().compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    return {"BLEU-1": bleu[0], "BLEU-2": bleu[1], "BLEU-3": bleu[2], "BLEU-4": bleu[3], "METEOR": meteor,
            "ROUGE-L": rouge, "CIDEr": cider}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (JVMs, worker, CLI runs) so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, *args, **kw):
    start, cpu = time.perf_counter(), cpu_seconds()
    out = fn(*args, **kw)
    TIMES[fn.__name__] = cpu_seconds() - cpu
    return out, time.perf_counter() - start


def child_run(args: list[str]) -> tuple[float, int, str]:
    """Run ``valor-bench ARGS`` in a fresh Python; wall seconds, that process's own peak RSS (MB), stdout.

    The RSS is the CLI process's own high-water mark after exec (/proc VmHWM; getrusage's ru_maxrss would
    carry over the forking parent's), Java children such as METEOR's JVM not counted.
    """
    code = ("import resource, sys\nfrom valor_bench.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
            "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
            "print('MAXRSS', hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"valor-bench {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    rss = [int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("MAXRSS")][-1]
    return wall, rss // 1024, proc.stdout


def bench_avc(kind: str, tmp: Path) -> dict:
    gt = load_ground_truth("test")
    refs = {v: list(gt.captions[v]) for v in gt.video_ids}
    hyps = synthetic_captions(gt, kind)
    direct, t_direct = timed(pycocoevalcap_direct, refs, hyps)
    ours, t_ours = timed(score_captions, refs, hyps, spice=False)
    same = ours.raw == direct
    sub = tmp / "avc.json"
    sub.write_text(json.dumps([{"video_id": v, "caption": hyps[v]} for v in gt.video_ids]))
    cpu = cpu_seconds()
    t_cli, _, out = child_run(["evaluate", str(sub), "--task", "avc", "--split", "test", "--json", "--no-spice"])
    cpu_cli = cpu_seconds() - cpu
    cli_metrics = json.loads(out)["metrics"]
    cpu_direct, cpu_ours = TIMES["pycocoevalcap_direct"], TIMES["score_captions"]
    print(f"AVC, VALOR-32K test, {gt.n_clips:,} clips, submission '{kind}' (wall / CPU incl. Java children)")
    print(f"  pycocoevalcap direct (sequential)      {t_direct:5.1f} s / {cpu_direct:5.1f} s")
    print(f"  valor_bench score_captions             {t_ours:5.1f} s / {cpu_ours:5.1f} s   "
          f"wall ratio {t_direct / t_ours:.2f}x")
    print(f"  valor-bench evaluate (CLI, end to end) {t_cli:5.1f} s / {cpu_cli:5.1f} s   "
          f"goal <= 20 s: {'met' if t_cli <= 20 else 'MISSED'}")
    print(f"  identical to pycocoevalcap: {same}; CLI metrics: {cli_metrics}")
    return {"n": gt.n_clips, "kind": kind, "direct_s": t_direct, "score_captions_s": t_ours, "cli_s": t_cli,
            "direct_cpu_s": cpu_direct, "score_captions_cpu_s": cpu_ours, "cli_cpu_s": cpu_cli,
            "identical": same, "metrics": cli_metrics}


def bench_avr(size: int, tmp: Path) -> dict:
    gt = load_ground_truth("test")
    n = gt.n_clips
    rng = np.random.default_rng(0)
    sim = rng.normal(size=(n, n)).astype(np.float32) + 2 * np.eye(n, dtype=np.float32)
    whole, t_whole = timed(matrix_ranks, SimMatrix.from_array(sim), np.arange(n), block_bytes=1 << 40)
    chunked, t_chunked = timed(matrix_ranks, SimMatrix.from_array(sim), np.arange(n), block_bytes=1 << 20)
    same = bool((whole.t2v == chunked.t2v).all() and (whole.v2t == chunked.v2t).all())
    print(f"AVR ranks, {n:,} x {n:,}: unchunked {t_whole:.2f} s, chunked (1 MiB blocks) {t_chunked:.2f} s, "
          f"ratio {t_whole / t_chunked:.2f}x, identical: {same}")
    result = {"n": n, "unchunked_s": t_whole, "chunked_s": t_chunked, "identical": same}
    if size:
        ids = [f"synth{i:06d}xx_0.000_10.000" for i in range(size)]
        ann = tmp / "synthetic.json"
        ann.write_text(json.dumps([{"video_id": v, "desc": f"caption {i}"} for i, v in enumerate(ids)]))
        path = tmp / "big.npz"
        big = np.lib.format.open_memmap(tmp / "big.npy", mode="w+", dtype=np.float32, shape=(size, size))
        for start in range(0, size, 1000):  # true pairs score ~2 higher, like a weak retrieval model
            rows = rng.normal(size=(min(1000, size - start), size)).astype(np.float32)
            rows[np.arange(len(rows)), np.arange(start, start + len(rows))] += 2
            big[start : start + len(rows)] = rows
        big.flush()
        np.savez(path, sim=big, text_ids=np.array(ids), video_ids=np.array(ids))  # numpy writes it in chunks
        del big
        os.remove(tmp / "big.npy")
        wall, rss, out = child_run(["evaluate", str(path), "--task", "avr", "--annotations", str(ann), "--json"])
        gb = size * size * 4 / 1e9
        print(f"AVR evaluate (CLI) streaming a {size:,} x {size:,} float32 .npz ({gb:.1f} GB): {wall:.1f} s, "
              f"peak RSS {rss} MB ({rss / 1e3 / gb:.2f}x the matrix)")
        result.update({"stream_size": size, "stream_s": wall, "stream_peak_rss_mb": rss, "matrix_gb": gb,
                       "t2v": json.loads(out)["metrics"]["t2v"]})
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=("perturbed", "shuffled"), default="perturbed")
    ap.add_argument("--avr-size", type=int, default=10000, help="N of the streamed N x N matrix (0: skip)")
    ap.add_argument("--skip-avr", action="store_true")
    ap.add_argument("--skip-avc", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (timings are noisy when > cores)")
    with tempfile.TemporaryDirectory() as tmp:
        figures = {} if args.skip_avc else {"avc": bench_avc(args.kind, Path(tmp))}
        if not args.skip_avr:
            figures["avr"] = bench_avr(args.avr_size, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
