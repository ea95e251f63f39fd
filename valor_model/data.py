"""Streaming loader over the WebDataset shards of `valor-data shard`, for training and prediction.

Why it is built this way:

* **Skipped, never zero-filled.** A sample without audio, with an undecodable video or without a caption
  is dropped and counted in a closed set of reasons (`SKIP_REASONS`). The counters live in shared memory,
  so they are exact across DataLoader worker processes (`ValorLoader.counters`). The official VALOR code
  silently feeds zeros instead, which trains the model on fake silence.
* **Deterministic stream, exact resume.** Everything random is a pure function of ``(seed, epoch, ...)``:
  the shard order of an epoch, the shuffle buffer of each *role* (a rank x worker slot), and the frame
  sampling and caption choice of each sample (seeded by its key). Each batch carries the position of its
  role (raw samples consumed, before decoding). A checkpoint stores ``epoch``, the number of batches
  consumed in that epoch and the per-role positions; on resume each role replays its shard list and shuffle
  buffer *without decoding* and skips the samples it had already consumed, and workers are rotated so that
  the DataLoader's round-robin continues with the role that would have produced the next batch. The next
  batch is then bit-identical to the one an uninterrupted run would have seen (same world size and
  ``--num-workers`` required; the trainer checks it on resume).
* **Split by node and worker.** With at least ``world x workers`` shards, each role reads its own shards;
  with fewer, every role reads all shards and keeps every ``world x workers``-th sample, so small shard sets
  still work under DDP.
* **Cheap decoding.** Frames are decoded sequentially with PyAV up to the last needed frame and only the
  sampled ones are converted; swscale does the short-side resize (bicubic) before the centre crop.
"""

from __future__ import annotations

import glob
import io
import json
import logging
import multiprocessing
import os
import random
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from webdataset import tariterators
from webdataset.shardlists import expand_urls

from valor_data.clip import key_to_clip_id
from valor_model.fbank import fbank_slices

log = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
AUDIO_RATE = 16000

SKIP_REASONS: dict[str, str] = {
    "no_video": "the sample has no .mp4 member",
    "bad_video": "the .mp4 cannot be decoded or has no frame",
    "no_audio": "the sample has no .flac member, or it holds no audio samples",
    "bad_audio": "the .flac cannot be decoded",
    "no_caption": "neither the .json captions nor the .txt member give a non-empty caption",
    "bad_json": "the .json member is not valid JSON",
    "read_error": "a tar file could not be opened or read (counted once per failure)",
}


class ShardSpecError(ValueError):
    """A --shards / --train-shards argument that names no readable shard."""


class BadSample(Exception):
    """A sample that cannot be used; ``reason`` is one of SKIP_REASONS."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# Shard lists
# --------------------------------------------------------------------------------------------------
def expand_shards(spec: str | os.PathLike | Sequence[str]) -> list[str]:
    """Shard paths from a directory, a brace pattern (``train-{000000..000003}.tar``), a glob, a
    ``::``-separated list or a sequence of those. Raises ShardSpecError naming what matched nothing."""
    if isinstance(spec, (str, os.PathLike)):
        specs = [os.fspath(spec)]
    else:
        specs = [os.fspath(s) for s in spec]
    out: list[str] = []
    for item in specs:
        if os.path.isdir(item):
            found = sorted(glob.glob(os.path.join(item, "*.tar")))
            if not found:
                raise ShardSpecError(f"{item}: directory holds no .tar shard")
            out.extend(found)
            continue
        for url in expand_urls(item):
            if any(c in url for c in "*?["):
                matched = sorted(glob.glob(url))
                if not matched:
                    raise ShardSpecError(f"{url}: pattern matches no file")
                out.extend(matched)
            elif "://" in url or url.startswith("pipe:"):
                out.append(url)
            elif not os.path.isfile(url):
                raise ShardSpecError(f"{url}: no such shard file")
            else:
                out.append(url)
    if not out:
        raise ShardSpecError(f"{spec}: names no shard")
    return out


def count_samples(shards: Sequence[str]) -> int:
    """Number of distinct sample keys in local tar shards, from the tar headers only (no member data is
    read), so that a schedule over --epochs knows its length. Remote shards count as 0."""
    total = 0
    for url in shards:
        if not os.path.isfile(url):
            continue
        keys = set()
        try:
            with tarfile.open(url, "r:") as tar:
                for member in tar:
                    if member.isfile():
                        keys.add(_sample_key(member.name))
        except (tarfile.TarError, OSError) as exc:
            log.warning("%s: cannot list (%s)", url, exc)
        total += len(keys)
    return total


def _sample_key(name: str) -> str:
    base = os.path.basename(name)
    prefix = os.path.dirname(name)
    key = base.split(".", 1)[0]
    return f"{prefix}/{key}" if prefix else key


# --------------------------------------------------------------------------------------------------
# Frame and audio decoding
# --------------------------------------------------------------------------------------------------
def frame_indices(n_total: int, n_frames: int, train: bool, rng: random.Random) -> list[int]:
    """Split ``n_total`` frames into ``n_frames`` equal chunks; pick one random frame per chunk in
    training and the middle frame of each chunk at evaluation. Short videos repeat frames."""
    if n_total <= 0:
        raise ValueError("a video with no frame")
    bounds = np.linspace(0, n_total, n_frames + 1)
    out = []
    for i in range(n_frames):
        lo, hi = int(np.floor(bounds[i])), int(np.floor(bounds[i + 1]))
        hi = max(hi, lo + 1)
        idx = rng.randrange(lo, hi) if train else (lo + hi - 1) // 2
        out.append(min(idx, n_total - 1))
    return out


_REFORMATTERS: dict[int, VideoReformatter] = {}


def _reformatter() -> VideoReformatter:
    """One reformatter per process: it caches the swscale context (much faster than ``frame.reformat``),
    and a context made before a fork must not be used in the child."""
    pid = os.getpid()
    if pid not in _REFORMATTERS:
        _REFORMATTERS.clear()
        _REFORMATTERS[pid] = VideoReformatter()
    return _REFORMATTERS[pid]


def _resize_crop(frame: av.VideoFrame, size: int) -> np.ndarray:
    w, h = frame.width, frame.height
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    rgb = _reformatter().reformat(frame, width=nw, height=nh, format="rgb24", interpolation="BICUBIC",
                                  threads=1).to_ndarray()
    top, left = (nh - size) // 2, (nw - size) // 2
    return rgb[top : top + size, left : left + size]


def decode_frames(data: bytes, n_frames: int, size: int, train: bool, rng: random.Random) -> np.ndarray:
    """``n_frames`` RGB frames (uint8 [n, size, size, 3]), resized on the short side and centre-cropped.

    Decodes sequentially and stops after the last sampled frame. Raises BadSample("bad_video")."""
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise BadSample("bad_video", "no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            n_total = stream.frames
            if n_total > 0:
                wanted = frame_indices(n_total, n_frames, train, rng)
                picked = _pick_frames(container.decode(stream), wanted, size)
                if len(picked) < len(set(wanted)):  # the header over-counted: fall back to what decodes
                    picked = None
            else:
                picked = None
            if picked is None:
                container.seek(0)
                frames = list(container.decode(stream))
                wanted = frame_indices(len(frames), n_frames, train, rng)
                picked = {i: _resize_crop(frames[i], size) for i in set(wanted)}
            return np.stack([picked[i] for i in wanted])
    except BadSample:
        raise
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise BadSample("bad_video", str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _pick_frames(frames: Iterator[av.VideoFrame], wanted: list[int], size: int) -> dict[int, np.ndarray]:
    targets = set(wanted)
    last = max(targets)
    picked: dict[int, np.ndarray] = {}
    for i, frame in enumerate(frames):
        if i in targets:
            picked[i] = _resize_crop(frame, size)
        if i >= last:
            break
    return picked


def decode_audio(data: bytes) -> np.ndarray:
    """Mono float32 waveform at 16 kHz (resampled when the file is not). Raises BadSample."""
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise BadSample("no_audio", "no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except BadSample:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise BadSample("bad_audio", str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    wave = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if wave.size == 0:
        raise BadSample("no_audio", "the audio stream holds no sample")
    return wave.astype(np.float32, copy=False)


def normalize_frames(frames: np.ndarray) -> torch.Tensor:
    """uint8 [n, H, W, 3] -> CLIP-normalised float [n, 3, H, W]."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def tokenize_captions(tokenizer, captions: Sequence[str], max_len: int) -> dict[str, torch.Tensor]:
    """``input_ids`` / ``attention_mask`` padded to the longest caption (truncated at ``max_len``), not to
    ``max_len``: the text encoder and every decoder pass scale with the padded length (tiny: 14 % faster
    steps with 16-token captions than padded to 40)."""
    tok = tokenizer(list(captions), padding="longest", truncation=True, max_length=max_len, return_tensors="pt")
    return {"input_ids": tok["input_ids"], "attention_mask": tok["attention_mask"]}


def read_captions(sample: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The .json metadata and the list of non-empty captions (from .json, else .txt)."""
    meta: dict[str, Any] = {}
    if "json" in sample:
        try:
            meta = json.loads(sample["json"])
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadSample("bad_json", str(exc)) from None
        if not isinstance(meta, dict):
            raise BadSample("bad_json", "not a JSON object")
    caps = meta.get("captions") or meta.get("caption") or []
    if isinstance(caps, str):
        caps = [caps]
    captions = [c.strip() for c in caps if isinstance(c, str) and c.strip()]
    if not captions and "txt" in sample:
        text = sample["txt"].decode("utf-8", "replace").strip()
        captions = [text] if text else []
    return meta, captions


# --------------------------------------------------------------------------------------------------
# Skip counters shared by all worker processes
# --------------------------------------------------------------------------------------------------
class SkipCounter:
    """Counts used and skipped samples per reason in shared memory (exact across DataLoader workers)."""

    names = ("ok", *SKIP_REASONS)

    def __init__(self) -> None:
        self._values = multiprocessing.Array("q", len(self.names))

    def add(self, name: str, n: int = 1) -> None:
        with self._values.get_lock():
            self._values[self.names.index(name)] += n

    def reset(self) -> None:
        with self._values.get_lock():
            for i in range(len(self.names)):
                self._values[i] = 0

    def as_dict(self) -> dict[str, int]:
        with self._values.get_lock():
            return {name: int(v) for name, v in zip(self.names, self._values, strict=True)}

    @property
    def skipped(self) -> int:
        return sum(v for k, v in self.as_dict().items() if k != "ok")


# --------------------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------------------
@dataclass
class StreamConfig:
    """What a stream decodes and how it orders samples. ``train`` switches random frame sampling, random
    caption choice and shuffling on; evaluation streams keep the shard order and never drop a batch."""

    num_frames: int
    image_size: int
    audio_slices: int
    max_text_len: int
    batch_size: int
    slice_frames: int = 512
    train: bool = True
    seed: int = 0
    shuffle_buffer: int = 1000
    need_video: bool = True
    need_audio: bool = True
    need_caption: bool = True
    drop_last: bool | None = None  # default: True in training


@dataclass
class Position:
    """Where a stream is: the epoch, batches consumed in it, raw samples consumed per role, and the role
    due to produce the next batch (the DataLoader's round-robin over the roles that still have data)."""

    epoch: int = 0
    batches: int = 0
    raw: dict[int, int] = field(default_factory=dict)
    next_role: int = 0
    world_size: int = 1
    num_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches": self.batches, "raw": {str(k): v for k, v in self.raw.items()},
                "next_role": self.next_role, "world_size": self.world_size, "num_workers": self.num_workers}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Position:
        return cls(int(d["epoch"]), int(d["batches"]), {int(k): int(v) for k, v in d["raw"].items()},
                   int(d.get("next_role", 0)), int(d.get("world_size", 1)), int(d.get("num_workers", 0)))

    def copy(self) -> Position:
        return Position.from_dict(self.to_dict())


def _stable_seed(*parts: Any) -> int:
    return zlib.crc32(":".join(str(p) for p in parts).encode())


class ValorStream(IterableDataset):
    """Yields collated batches (the model's batch dict plus "keys", "clip_ids", "captions")."""

    def __init__(self, shards: Sequence[str], cfg: StreamConfig, tokenizer, counter: SkipCounter,
                 rank: int = 0, world_size: int = 1, num_workers: int = 0):
        super().__init__()
        self.shards = list(shards)
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.counter = counter
        self.rank, self.world_size = rank, world_size
        self.num_workers = num_workers
        self.position = Position(world_size=world_size, num_workers=num_workers)

    # -- stream structure ---------------------------------------------------------------------------
    def _role(self) -> tuple[int, int]:
        info = get_worker_info()
        n = info.num_workers if info is not None else 1
        wid = info.id if info is not None else 0
        # rotate so that the DataLoader's round-robin resumes with the role that was due next
        return (wid + self.position.next_role) % n, n

    def _role_shards(self, role: int, n_workers: int) -> tuple[list[str], int, int]:
        shards = list(self.shards)
        if self.cfg.train:
            random.Random(_stable_seed("shards", self.cfg.seed, self.position.epoch)).shuffle(shards)
        n_roles = self.world_size * n_workers
        global_role = self.rank * n_workers + role
        if len(shards) >= n_roles:
            return shards[global_role::n_roles], 1, 0
        return shards, n_roles, global_role  # too few shards: split by sample instead

    def _read_error(self, exc: Exception) -> bool:
        self.counter.add("read_error")
        log.warning("shard read error: %s", exc)
        return True

    def raw_samples(self, role: int, n_workers: int) -> Iterator[dict[str, Any]]:
        """The role's raw samples (bytes), in their final (shuffled) order, before any decoding."""
        shards, stride, offset = self._role_shards(role, n_workers)
        samples = tariterators.tarfile_samples(({"url": u} for u in shards), handler=self._read_error)
        if stride > 1:
            samples = (s for i, s in enumerate(samples) if i % stride == offset)
        if self.cfg.train and self.cfg.shuffle_buffer > 1:
            rng = random.Random(_stable_seed("buffer", self.cfg.seed, self.position.epoch, self.rank, role))
            samples = _shuffle(samples, self.cfg.shuffle_buffer, rng)
        return samples

    # -- decoding -----------------------------------------------------------------------------------
    def decode(self, raw: dict[str, Any]) -> dict[str, Any]:
        """One raw sample -> decoded tensors, or BadSample."""
        cfg = self.cfg
        key = raw["__key__"]
        meta, captions = read_captions(raw)
        if cfg.need_caption and not captions:
            raise BadSample("no_caption")
        rng = random.Random(_stable_seed("sample", cfg.seed, self.position.epoch, key))
        out: dict[str, Any] = {"key": key, "clip_id": meta.get("clip_id") or _clip_id(key), "captions": captions}
        if cfg.need_audio:
            if not raw.get("flac"):
                raise BadSample("no_audio")
            wave = decode_audio(raw["flac"])
        if cfg.need_video:
            if not raw.get("mp4"):
                raise BadSample("no_video")
            out["frames"] = normalize_frames(decode_frames(raw["mp4"], cfg.num_frames, cfg.image_size,
                                                           cfg.train, rng))
        if cfg.need_audio:
            gen = torch.Generator().manual_seed(rng.getrandbits(62)) if cfg.train else None
            try:
                out["fbank"] = fbank_slices(torch.from_numpy(wave), cfg.audio_slices, cfg.slice_frames,
                                            training=cfg.train, generator=gen)
            except ValueError as exc:  # shorter than one 25 ms window
                raise BadSample("no_audio", str(exc)) from None
        out["caption"] = (rng.choice(captions) if cfg.train else captions[0]) if captions else ""
        return out

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {
            "keys": [s["key"] for s in samples],
            "clip_ids": [s["clip_id"] for s in samples],
            "captions": [s["caption"] for s in samples],
            "all_captions": [s["captions"] for s in samples],
        }
        if self.cfg.need_caption:
            batch.update(tokenize_captions(self.tokenizer, batch["captions"], self.cfg.max_text_len))
        if self.cfg.need_video:
            batch["frames"] = torch.stack([s["frames"] for s in samples])
        if self.cfg.need_audio:
            batch["fbank"] = torch.stack([s["fbank"] for s in samples])
        return batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        role, n_workers = self._role()
        skip = self.position.raw.get(role, 0)
        drop_last = self.cfg.train if self.cfg.drop_last is None else self.cfg.drop_last
        pending: list[dict[str, Any]] = []
        consumed = 0
        for consumed, raw in enumerate(self.raw_samples(role, n_workers), start=1):
            if consumed <= skip:
                continue
            try:
                pending.append(self.decode(raw))
            except BadSample as bad:
                self.counter.add(bad.reason)
                log.debug("skipped %s: %s", raw.get("__key__"), bad)
                continue
            self.counter.add("ok")
            if len(pending) == self.cfg.batch_size:
                yield {**self.collate(pending), "_pos": (role, consumed)}
                pending = []
        if pending and not drop_last:
            yield {**self.collate(pending), "_pos": (role, consumed)}


def _clip_id(key: str) -> str:
    try:
        return key_to_clip_id(key)
    except ValueError:
        return key


def _shuffle(data: Iterator[dict[str, Any]], bufsize: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """A reservoir shuffle driven only by ``rng`` (so it replays exactly on resume)."""
    buf: list[dict[str, Any]] = []
    for sample in data:
        if len(buf) < bufsize:
            buf.append(sample)
            continue
        i = rng.randrange(len(buf))
        yield buf[i]
        buf[i] = sample
    rng.shuffle(buf)
    yield from buf


# --------------------------------------------------------------------------------------------------
# The loader the trainer and predict use
# --------------------------------------------------------------------------------------------------
class ValorLoader:
    """A DataLoader over a ValorStream that tracks the stream position and the skip counters.

    Iterate it once per epoch after ``set_epoch``; ``position`` is the resume point after the last batch
    it yielded."""

    def __init__(self, shards: str | Sequence[str], cfg: StreamConfig, tokenizer, *, num_workers: int = 0,
                 rank: int = 0, world_size: int = 1, pin_memory: bool = False):
        self.shards = expand_shards(shards)
        self.cfg = cfg
        self.num_workers = num_workers
        self.counter = SkipCounter()
        self.stream = ValorStream(self.shards, cfg, tokenizer, self.counter, rank, world_size, num_workers)
        self.pin_memory = pin_memory
        self.position = Position(world_size=world_size, num_workers=num_workers)

    def set_epoch(self, epoch: int, resume: Position | None = None) -> None:
        if resume is not None and resume.epoch == epoch:
            self.position = resume.copy()
        else:
            self.position = Position(epoch, 0, {}, 0, self.stream.world_size, self.num_workers)
        self.stream.position = self.position.copy()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # an own generator: creating the iterator must not draw from the global torch RNG (exact resume)
        loader = DataLoader(self.stream, batch_size=None, num_workers=self.num_workers,
                            pin_memory=self.pin_memory, persistent_workers=False,
                            prefetch_factor=2 if self.num_workers else None,
                            generator=torch.Generator().manual_seed(self.cfg.seed))
        for batch in loader:
            role, consumed = batch.pop("_pos")
            self.position.raw[int(role)] = int(consumed)
            self.position.batches += 1
            self.position.next_role = (int(role) + 1) % max(self.num_workers, 1)
            yield batch

    @property
    def counters(self) -> dict[str, int]:
        return self.counter.as_dict()

    def summary(self) -> str:
        c = self.counters
        skipped = {k: v for k, v in c.items() if k != "ok" and v}
        detail = ", ".join(f"{k}={v}" for k, v in skipped.items()) or "none"
        return f"samples used {c['ok']}, skipped {sum(skipped.values())} ({detail})"


def stream_config_for(model_cfg, batch_size: int, train: bool, seed: int = 0, shuffle_buffer: int = 1000,
                      modality: str = "av", need_caption: bool = True) -> StreamConfig:
    """The StreamConfig matching a model config (frames, image size, fbank slices, text length)."""
    return StreamConfig(
        num_frames=model_cfg.num_frames, image_size=model_cfg.image_size, audio_slices=model_cfg.audio_slices,
        max_text_len=model_cfg.max_text_len, batch_size=batch_size, slice_frames=model_cfg.audio.slice_frames,
        train=train, seed=seed,
        shuffle_buffer=shuffle_buffer, need_video="v" in modality, need_audio="a" in modality,
        need_caption=need_caption,
    )
