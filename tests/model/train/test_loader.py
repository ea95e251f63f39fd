"""The streaming loader: frame sampling, skipping + counting bad samples, splits, determinism, resume."""

from __future__ import annotations

import io
import random
import tarfile
from collections import Counter

import av
import numpy as np
import pytest
import torch

from valor_model.data import (
    SKIP_REASONS,
    BadSample,
    Position,
    ShardSpecError,
    StreamConfig,
    ValorLoader,
    _resize_crop,
    count_samples,
    decode_audio,
    decode_frames,
    expand_shards,
    frame_indices,
    normalize_frames,
)
from valor_model.factory import get_config, get_tokenizer

CFG = get_config("tiny")


@pytest.fixture(scope="module")
def tokenizer():
    return get_tokenizer(CFG)


def stream_cfg(batch_size=4, train=True, seed=0, **kw) -> StreamConfig:
    return StreamConfig(num_frames=CFG.num_frames, image_size=CFG.image_size, audio_slices=CFG.audio_slices,
                        max_text_len=CFG.max_text_len, batch_size=batch_size, train=train, seed=seed, **kw)


def keys_of(loader: ValorLoader) -> list[str]:
    return [k for batch in loader for k in batch["keys"]]


# -------------------------------------------------------------------------------------- frame sampling
def test_frame_indices_eval_takes_the_middle_of_each_chunk():
    assert frame_indices(20, 4, train=False, rng=random.Random(0)) == [2, 7, 12, 17]
    assert frame_indices(3, 4, train=False, rng=random.Random(0)) == [0, 0, 1, 2]  # short video repeats


def test_frame_indices_train_draws_one_frame_inside_each_chunk():
    seen = [set() for _ in range(4)]
    for seed in range(200):
        idx = frame_indices(20, 4, train=True, rng=random.Random(seed))
        for i, j in enumerate(idx):
            assert 5 * i <= j < 5 * (i + 1)
            seen[i].add(j)
    assert all(len(s) == 5 for s in seen)  # every frame of every chunk gets drawn


def _all_frames(mp4: bytes, size: int) -> list[np.ndarray]:
    with av.open(io.BytesIO(mp4)) as c:
        return [_resize_crop(f, size) for f in c.decode(video=0)]


def test_decode_frames_returns_exactly_the_sampled_frames(shards):
    with tarfile.open(shards.test[0]) as tar:
        mp4 = next(tar.extractfile(m).read() for m in tar if m.name.endswith(".mp4"))
    frames = _all_frames(mp4, 64)
    assert len(frames) == 16  # 2 s at 8 fps
    got = decode_frames(mp4, 4, 64, train=False, rng=random.Random(0))
    assert got.shape == (4, 64, 64, 3) and got.dtype == np.uint8
    for out, i in zip(got, [1, 5, 9, 13], strict=True):
        assert np.array_equal(out, frames[i])
    rng = random.Random(7)
    want = frame_indices(16, 4, train=True, rng=random.Random(7))
    got = decode_frames(mp4, 4, 64, train=True, rng=rng)
    for out, i in zip(got, want, strict=True):
        assert np.array_equal(out, frames[i])


def test_decode_errors_are_bad_samples():
    with pytest.raises(BadSample) as exc:
        decode_frames(b"not a video at all" * 50, 4, 64, train=False, rng=random.Random(0))
    assert exc.value.reason == "bad_video"
    with pytest.raises(BadSample) as exc:
        decode_audio(b"fLaC" + b"\x00" * 100)
    assert exc.value.reason in ("bad_audio", "no_audio")


def test_normalize_frames_is_clip_normalisation():
    x = normalize_frames(np.full((1, 2, 2, 3), 255, np.uint8))
    assert x.shape == (1, 3, 2, 2)
    assert torch.allclose(x[0, :, 0, 0], (1 - torch.tensor([0.48145466, 0.4578275, 0.40821073]))
                          / torch.tensor([0.26862954, 0.26130258, 0.27577711]))


# ------------------------------------------------------------------------------------------- skipping
@pytest.mark.parametrize("workers", [0, 2])
def test_bad_samples_are_skipped_and_counted(shards, tokenizer, workers):
    loader = ValorLoader(shards.train, stream_cfg(batch_size=5, train=False), tokenizer, num_workers=workers)
    loader.set_epoch(0)
    batches = list(loader)
    keys = [k for b in batches for k in b["keys"]]
    assert len(keys) == len(set(keys)) == shards.n_train_good
    assert not set(keys) & set(shards.bad_keys)
    counts = loader.counters
    assert counts["ok"] == shards.n_train_good
    assert counts["no_audio"] == 1 and counts["bad_video"] == 1
    assert sum(counts[r] for r in SKIP_REASONS) == 2
    assert "skipped 2" in loader.summary()
    b = batches[0]
    assert b["frames"].shape[1:] == (4, 3, 64, 64) and b["fbank"].shape[1:] == (2, 512, 64)
    longest = int(b["attention_mask"].sum(1).max())  # padded to the batch's longest caption only
    assert b["input_ids"].shape[1] == longest <= CFG.max_text_len and b["attention_mask"].dtype == torch.long
    assert torch.isfinite(b["fbank"]).all() and b["fbank"].std() > 0  # real audio, not zeros


def test_video_only_stream_does_not_need_audio(shards, tokenizer):
    loader = ValorLoader(shards.train, stream_cfg(train=False, need_audio=False), tokenizer)
    loader.set_epoch(0)
    keys = keys_of(loader)
    assert len(keys) == shards.n_train_good + 1  # the clip without audio is fine for video only
    assert "fbank" not in next(iter(loader))


# ------------------------------------------------------------------------------------- splits and order
def test_split_by_worker_and_node_covers_every_sample_once(shards, tokenizer):
    all_keys = set()
    for rank in range(2):
        loader = ValorLoader(shards.train, stream_cfg(batch_size=2, train=False), tokenizer, num_workers=2,
                             rank=rank, world_size=2)
        loader.set_epoch(0)
        keys = keys_of(loader)
        assert len(keys) == len(set(keys))
        assert not all_keys & set(keys)
        all_keys |= set(keys)
    assert len(all_keys) == shards.n_train_good


def test_too_few_shards_split_by_sample(shards, tokenizer):
    # one shard, 2 ranks x 2 workers: every role reads the shard and keeps every 4th sample
    per_rank = []
    for rank in range(2):
        loader = ValorLoader(shards.test, stream_cfg(batch_size=1, train=False), tokenizer, num_workers=2,
                             rank=rank, world_size=2)
        loader.set_epoch(0)
        per_rank.append(keys_of(loader))
    assert [len(k) for k in per_rank] == [4, 4]
    assert len(set(per_rank[0]) | set(per_rank[1])) == 8


def test_training_order_is_deterministic_per_seed_and_epoch(shards, tokenizer):
    def order(seed, epoch):
        loader = ValorLoader(shards.train, stream_cfg(batch_size=3, seed=seed, shuffle_buffer=6), tokenizer)
        loader.set_epoch(epoch)
        return [(b["keys"], b["frames"]) for b in loader]

    a, b = order(0, 0), order(0, 0)
    assert [k for k, _ in a] == [k for k, _ in b]
    assert all(torch.equal(x, y) for (_, x), (_, y) in zip(a, b, strict=True))
    assert [k for k, _ in order(0, 1)] != [k for k, _ in a]
    assert [k for k, _ in order(1, 0)] != [k for k, _ in a]


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_stream_continues_with_the_same_batches(shards, tokenizer, workers):
    cfg = stream_cfg(batch_size=2, shuffle_buffer=4)
    full = ValorLoader(shards.train, cfg, tokenizer, num_workers=workers)
    full.set_epoch(1)
    reference = [b["keys"] for b in full]
    for k in (1, 3, len(reference) - 1):
        first = ValorLoader(shards.train, cfg, tokenizer, num_workers=workers)
        first.set_epoch(1)
        it = iter(first)
        for _ in range(k):
            next(it)
        saved = Position.from_dict(first.position.to_dict())
        del it
        resumed = ValorLoader(shards.train, cfg, tokenizer, num_workers=workers)
        resumed.set_epoch(1, saved)
        assert [b["keys"] for b in resumed] == reference[k:], f"resume after {k} batches"


# ---------------------------------------------------------------------------------------- shard specs
def test_expand_shards_forms(shards, tmp_path):
    d = shards.train[0].parent
    assert expand_shards(d) == [str(p) for p in shards.train]
    assert expand_shards(str(d / "train-{000000..000001}.tar")) == [str(p) for p in shards.train[:2]]
    assert expand_shards(str(d / "train-*.tar")) == [str(p) for p in shards.train]
    assert count_samples(expand_shards(d)) == 20
    with pytest.raises(ShardSpecError, match="no such shard"):
        expand_shards(str(d / "train-{000000..000009}.tar"))
    with pytest.raises(ShardSpecError, match="no .tar"):
        expand_shards(tmp_path)


def test_counters_are_shared_with_worker_processes(shards, tokenizer):
    loader = ValorLoader(shards.train, stream_cfg(batch_size=20, train=False), tokenizer, num_workers=2)
    loader.set_epoch(0)
    list(loader)
    assert Counter(loader.counters)["ok"] == shards.n_train_good
