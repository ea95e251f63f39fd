"""Fixture shards in the layout of `valor-data shard` (mp4 video-only, flac 16 kHz mono, json, txt), made
directly with ffmpeg + webdataset.TarWriter so that the model tests do not depend on the whole pipeline.

Clips come from the synthetic audiovisual task (coloured shapes + tones), so a few training steps have
something learnable. The train set also holds one sample without audio and one with corrupt video bytes,
which the loader must skip and count.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import webdataset as wds

from valor_data.synthetic.av_task import AVClipSpec, plan, render_clip

DURATION = 2.0
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class FixtureShards:
    train: list[Path]  # 4 shards: 18 good samples + 1 without audio + 1 with a corrupt mp4
    test: list[Path]  # 1 shard: 8 good samples, distinct combinations
    test_annotations: Path  # VALOR json of the test captions
    n_train_good: int
    bad_keys: dict[str, str]  # key -> expected skip reason


def _clip_id(spec: AVClipSpec) -> str:
    return f"{spec.ytid}_0.000_{DURATION:.3f}"


def _key(spec: AVClipSpec) -> str:
    return f"{spec.ytid}_0_{int(DURATION * 1000)}"


def _render(spec: AVClipSpec, media_dir: Path) -> tuple[bytes, bytes]:
    mp4, flac = media_dir / f"{spec.ytid}.mp4", media_dir / f"{spec.ytid}.flac"
    if not (mp4.is_file() and flac.is_file()):
        render_clip(spec, mp4, side=72, fps=8, duration=DURATION, audio_path=flac)
    return mp4.read_bytes(), flac.read_bytes()


def _sample(spec: AVClipSpec, mp4: bytes | None, flac: bytes | None) -> dict:
    meta = {
        "clip_id": _clip_id(spec), "key": _key(spec), "ytid": spec.ytid, "start": 0.0, "end": DURATION,
        "labels": [], "captions": [spec.caption], "probe": {"duration": DURATION},
        "sha256": {m: hashlib.sha256(b).hexdigest() for m, b in (("mp4", mp4), ("flac", flac)) if b is not None},
    }
    sample = {"__key__": _key(spec), "json": json.dumps(meta).encode(), "txt": spec.caption.encode()}
    if mp4 is not None:
        sample["mp4"] = mp4
    if flac is not None:
        sample["flac"] = flac
    return sample


def write_shards(out: Path, prefix: str, samples: list[dict], per_shard: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(0, len(samples), per_shard):
        path = out / f"{prefix}-{i // per_shard:06d}.tar"
        with wds.TarWriter(str(path)) as sink:
            for sample in samples[i : i + per_shard]:
                sink.write(sample)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def shards(tmp_path_factory) -> FixtureShards:
    root = tmp_path_factory.mktemp("model_train_shards")
    media = root / "media"
    media.mkdir()
    train_specs, test_specs = plan(n_train=20, n_test=8, seed=3)
    with ThreadPoolExecutor(2) as pool:
        train_media = list(pool.map(lambda s: _render(s, media), train_specs))
        test_media = list(pool.map(lambda s: _render(s, media), test_specs))
    train = [_sample(s, *m) for s, m in zip(train_specs, train_media, strict=True)]
    # two broken samples among the good ones
    no_audio, corrupt = train_specs[5], train_specs[12]
    train[5] = _sample(no_audio, train_media[5][0], None)
    train[12] = _sample(corrupt, b"\x00\x00\x00\x18ftypisom" + os.urandom(3000), train_media[12][1])
    test = [_sample(s, *m) for s, m in zip(test_specs, test_media, strict=True)]
    ann = root / "test_annotations.json"
    ann.write_text(json.dumps([{"video_id": _clip_id(s), "desc": s.caption} for s in test_specs]))
    return FixtureShards(
        train=write_shards(root / "train", "train", train, per_shard=5),
        test=write_shards(root / "test", "test", test, per_shard=8),
        test_annotations=ann,
        n_train_good=18,
        bad_keys={_key(no_audio): "no_audio", _key(corrupt): "bad_video"},
    )


def run_cli(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `valor-model ARGS` as a user would, in a subprocess (one torch thread per process)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "valor_model.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=full_env, check=False)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests decode and train tiny batches in the test process: on a shared 2-core machine, one
    intra-op thread is many times faster than two contending ones. Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
