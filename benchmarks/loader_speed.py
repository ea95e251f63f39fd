"""Training-loader throughput: samples/s per worker for 4 frames + 2 fbank slices on demo-like shards.

The shards are made by the real pipeline: N synthetic 10-second AudioSet-like clips (testsrc pattern +
tone, 320x240, 25 fps) -> `valor-data fetch --source local` (224 short side, 16 kHz mono FLAC) ->
`valor-data shard`. They are cached in --work.

Measured in one run, alternating rounds so that load from other processes hits every variant:

* loader, 1 process: ``ValorLoader`` in training mode (random frame per chunk, short-side resize to 224 +
  centre crop + CLIP normalisation, fbank slices, tokenisation, collation), no worker, one torch
  thread: this is samples/s per CPU core (goal: >= 20);
* loader, --workers W: the same with W DataLoader workers (samples/s in all and per worker);
* baseline: the naive decode the official VALOR code does per sample — every frame of the clip decoded
  and converted to RGB at full size, then the 4 sampled, plus the FLAC decoded — with nothing else.

Prints samples/s and the ratio loader / baseline (per core).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import torch

from valor_data.synthetic.media import make_clip

VALOR_DATA = [sys.executable, "-m", "valor_data.cli"]


def build_shards(work: Path, n: int, workers: int) -> Path:
    """Demo-like shards through the real pipeline (cached: reused when already complete)."""
    shards = work / "shards"
    if (shards / "stats.json").is_file():
        return shards
    src = work / "videos"
    src.mkdir(parents=True, exist_ok=True)
    ids = [f"ldspd{i:06d}" for i in range(n)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: make_clip(src / f"{ids[i]}.mp4", "ok", duration=10.0, size=(320, 240), fps=25,
                                          seed=i), range(n)))  # fmt: skip
    id_file = work / "ids.txt"
    id_file.write_text("".join(f"{y}_0.000_10.000\n" for y in ids))
    captions = work / "captions.json"
    captions.write_text(json.dumps([{"video_id": f"{y}_0.000_10.000", "desc": f"a test pattern with tone {i}"}
                                    for i, y in enumerate(ids)]))
    subprocess.run([*VALOR_DATA, "fetch", str(id_file), "--source", "local", "--video-dir", str(src),
                    "--out", str(work / "fetch"), "--workers", str(workers), "--no-progress"], check=True)
    subprocess.run([*VALOR_DATA, "shard", str(work / "fetch"), "--out", str(shards), "--captions", str(captions),
                    "--shard-size", str(max(1, n // 4)), "--workers", str(workers)], check=True)
    return shards


def loader_rate(shards: Path, workers: int, batch_size: int, epochs: int) -> float:
    """Samples/s of the training loader (4 frames at 224 px, 2 fbank slices, text) over ``epochs``."""
    from valor_model.data import StreamConfig, ValorLoader
    from valor_model.factory import get_tokenizer

    cfg = StreamConfig(num_frames=4, image_size=224, audio_slices=2, max_text_len=40, batch_size=batch_size,
                       train=True, shuffle_buffer=64)
    loader = ValorLoader(str(shards), cfg, get_tokenizer("tiny"), num_workers=workers)
    n, start = 0, time.perf_counter()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for batch in loader:
            n += batch["frames"].shape[0]
            assert batch["frames"].shape[1:] == (4, 3, 224, 224) and batch["fbank"].shape[1:] == (2, 512, 64)
    skipped = loader.counter.skipped
    if skipped:
        raise SystemExit(f"{skipped} samples skipped: the benchmark shards are broken ({loader.summary()})")
    return n / (time.perf_counter() - start)


def baseline_rate(shards: Path, epochs: int) -> float:
    """The naive per-sample decode: every frame to full-size RGB, 4 kept; FLAC decoded. One process."""
    members = []
    for tar_path in sorted(shards.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
        keys = sorted({name.split(".", 1)[0] for name in files})
        members += [(files[f"{k}.mp4"], files[f"{k}.flac"]) for k in keys]
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        for mp4, flac in members:
            with av.open(io.BytesIO(mp4)) as c:
                frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
            picked = [frames[i] for i in np.linspace(0, len(frames) - 1, 4).astype(int)]
            with av.open(io.BytesIO(flac)) as c:
                audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
            assert len(picked) == 4 and audio.size > 0
            n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32, help="10-second clips in the shards")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the multi-worker run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path("bench_out/loader_speed"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(1)
    shards = build_shards(args.work, args.clips, args.workers)
    single, multi, base = [], [], []
    for _ in range(args.rounds):
        base.append(baseline_rate(shards, 1))
        single.append(loader_rate(shards, 0, args.batch_size, 1))
        multi.append(loader_rate(shards, args.workers, args.batch_size, 1))
    res = {
        "clips": args.clips, "cores": os.cpu_count(), "rounds": args.rounds,
        "loader_per_core": statistics.median(single), "baseline_per_core": statistics.median(base),
        f"loader_{args.workers}_workers": statistics.median(multi),
        "per_worker": statistics.median(multi) / args.workers,
        "ratio_loader_vs_baseline": statistics.median(s / b for s, b in zip(single, base, strict=True)),
    }
    if args.json:
        print(json.dumps(res))
        return
    print(f"demo-like shards: {args.clips} clips of 10 s, 224 px short side, 25 fps; 4 frames at 224 px + "
          f"2 fbank slices per sample; {args.rounds} rounds (median); {os.cpu_count()} cores")
    print(f"  loader, 1 process (per core):   {res['loader_per_core']:7.1f} samples/s   (goal >= 20)")
    print(f"  loader, {args.workers} workers:              {res[f'loader_{args.workers}_workers']:7.1f} samples/s "
          f"= {res['per_worker']:.1f} per worker")
    print(f"  baseline naive decode, 1 proc:  {res['baseline_per_core']:7.1f} samples/s")
    print(f"  ratio loader / baseline (per core): {res['ratio_loader_vs_baseline']:.2f}x")


if __name__ == "__main__":
    main()
