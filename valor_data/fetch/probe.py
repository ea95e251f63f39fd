"""Probe a media segment in-process with PyAV: stream facts plus the measures the filters decide on.

One pass over the segment gives what every filter needs, so no filter re-opens the file:
* stream facts: duration, fps, size, codecs, sample rate, channels (from the container, no decoding);
* ``rms_db``: the RMS level of all audio in the segment, in dBFS (floor -120 for digital silence);
* on small grey thumbnails of sampled frames (0-255): ``motion``, the largest mean absolute difference
  between consecutive sampled frames over the whole picture, and ``block_motion``, the same on the
  worst block of a ``GRID`` x ``GRID`` split of the picture (change anywhere counts: a small object moving
  over a still background is motion); ``luma``, the brightest sampled frame's mean, and ``dark_share``,
  the smallest share of dark pixels (at most ``DARK_LUMA``) of any sampled frame (black means almost
  every pixel dark, as in ffmpeg's blackdetect). Frames are sampled at the keyframes (cheap: nothing else
  is decoded); when a segment has fewer than three keyframes every frame is decoded and a few spread over
  the segment are kept.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

import av
import numpy as np

SILENCE_FLOOR_DB = -120.0
THUMB_WIDTH = 64
MIN_KEYFRAMES = 3
GRID = 16  # block_motion: a 16 x 16 grid, each block 1/256 of the picture (4 x 3 pixels of a 4:3 thumbnail)
DARK_LUMA = 25.0  # a dark pixel, 0-255: about ffmpeg blackdetect's default (10 % of the video range)


class ProbeError(Exception):
    """The file cannot be opened or decoded at all; the message is PyAV's/FFmpeg's."""


@dataclass
class ProbeFacts:
    """What a probe learnt about one segment; serialised into the manifest's ``probe`` column."""

    duration: float | None = None  # seconds of the segment that decoded (min over the streams present)
    source_duration: float | None = None  # the whole file's duration, when the container says
    has_video: bool = False
    has_audio: bool = False
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    vcodec: str | None = None
    acodec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    rms_db: float | None = None
    motion: float | None = None
    block_motion: float | None = None
    luma: float | None = None
    dark_share: float | None = None
    frames_sampled: int = 0
    decode_error: str | None = None  # a decoding error met part-way (frames before it still count)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**{k: _round(v) for k, v in d.items() if v is not None}, **extra}


def _round(v: object) -> object:
    return round(v, 4) if isinstance(v, float) else v


def _av_message(exc: Exception) -> str:
    strerror = getattr(exc, "strerror", None)
    return f"{strerror}" if strerror else str(exc)


def _to_float(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return x.astype(np.float64) / max(abs(info.min), info.max)
    return x.astype(np.float64)


def _thumb(frame: av.VideoFrame) -> np.ndarray:
    w = THUMB_WIDTH
    h = max(2, round(w * frame.height / max(1, frame.width) / 2) * 2)
    return frame.reformat(width=w, height=h, format="gray").to_ndarray().astype(np.float32)


class _Segment:
    """Collects frames and samples that fall inside [start, end)."""

    def __init__(self, start: float, end: float | None):
        self.start, self.end = start, end
        self.thumbs: list[tuple[float, np.ndarray]] = []
        self.video_last = None
        self.video_first = None
        self.audio_first = None
        self.audio_last = None
        self.sum_squares = 0.0
        self.n_samples = 0

    def inside(self, t: float) -> bool:
        return t >= self.start - 1e-3 and (self.end is None or t < self.end - 1e-6)


def _frame_time(frame: av.frame.Frame) -> float | None:
    return float(frame.time) if frame.time is not None else None


def _decode_video(container: av.container.InputContainer, stream, seg: _Segment, keyframes_only: bool,
                  samples: int) -> None:
    """Extents come from packet timestamps (every packet), thumbnails from decoded frames."""
    stream.codec_context.skip_frame = "NONKEY" if keyframes_only else "DEFAULT"
    if seg.start > 0:
        container.seek(int(seg.start / stream.time_base), stream=stream, backward=True, any_frame=False)
    tb = float(stream.time_base)
    frames: list[tuple[float, av.VideoFrame]] = []
    for packet in container.demux(stream):
        if packet.dts is not None and seg.end is not None and packet.dts * tb >= seg.end + 0.5:
            break  # decode order: allow half a second of reordering past the end
        if packet.pts is not None:
            t = packet.pts * tb
            if seg.inside(t):
                seg.video_first = t if seg.video_first is None else min(seg.video_first, t)
                end_t = t + (packet.duration or 0) * tb
                seg.video_last = end_t if seg.video_last is None else max(seg.video_last, end_t)
        for frame in packet.decode():
            t = _frame_time(frame)
            if t is None or not seg.inside(t):
                continue
            if keyframes_only:
                seg.thumbs.append((t, _thumb(frame)))
            else:
                frames.append((t, frame))
                if len(frames) > 4 * samples:  # keep memory bounded: thin to every other frame
                    frames = frames[::2]
    if not keyframes_only and frames:
        step = max(1, len(frames) // samples)
        seg.thumbs = [(t, _thumb(f)) for t, f in frames[::step][:samples]]


def _decode_audio(container: av.container.InputContainer, stream, seg: _Segment) -> None:
    if seg.start > 0:
        container.seek(int(seg.start / stream.time_base), stream=stream, backward=True, any_frame=False)
    for frame in container.decode(stream):
        t = _frame_time(frame)
        if t is None:
            continue
        if seg.end is not None and t >= seg.end:
            break
        x = _to_float(frame.to_ndarray()).reshape(-1)
        rate = frame.sample_rate or stream.sample_rate or 1
        channels = max(1, len(frame.layout.channels))
        per_channel = frame.samples
        # Keep only the part of the frame inside the segment.
        lo = max(0, int(round((seg.start - t) * rate)))
        hi = per_channel if seg.end is None else min(per_channel, int(round((seg.end - t) * rate)))
        if hi <= lo:
            continue
        if frame.format.is_planar:
            x = x.reshape(channels, per_channel)[:, lo:hi]
        else:
            x = x.reshape(per_channel, channels)[lo:hi]
        seg.sum_squares += float(np.square(x).sum())
        seg.n_samples += x.size
        t0 = t + lo / rate
        seg.audio_first = t0 if seg.audio_first is None else seg.audio_first
        seg.audio_last = t + hi / rate


def probe_media(path: str | os.PathLike, start: float = 0.0, end: float | None = None,
                samples: int = 8) -> ProbeFacts:
    """Probe ``path`` over the segment [start, end) (the whole file when ``end`` is None).

    Raises :class:`ProbeError` when the file cannot be opened as media at all. Streams that are absent
    leave their facts empty; a decoding error part-way is recorded in ``decode_error``.
    """
    facts = ProbeFacts()
    try:
        container = av.open(os.fspath(path))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise ProbeError(_av_message(e)) from None
    with container:
        if container.duration is not None:
            facts.source_duration = container.duration / av.time_base
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        seg = _Segment(start, end)
        if video is not None:
            facts.has_video = True
            cc = video.codec_context
            facts.width, facts.height, facts.vcodec = cc.width or None, cc.height or None, cc.name
            rate = video.average_rate or video.guessed_rate
            facts.fps = float(rate) if rate else None
            video.thread_type = "AUTO"
            try:
                _decode_video(container, video, seg, keyframes_only=True, samples=samples)
                if len(seg.thumbs) < MIN_KEYFRAMES:
                    seg.thumbs, seg.video_first, seg.video_last = [], None, None
                    container.seek(0)
                    _decode_video(container, video, seg, keyframes_only=False, samples=samples)
            except (av.error.FFmpegError, ValueError) as e:
                facts.decode_error = f"video: {_av_message(e)}"
        if audio is not None:
            facts.has_audio = True
            facts.acodec = audio.codec_context.name
            facts.sample_rate = audio.codec_context.sample_rate or None
            facts.channels = audio.codec_context.channels or None
            try:
                container.seek(0)
                _decode_audio(container, audio, seg)
            except (av.error.FFmpegError, ValueError) as e:
                facts.decode_error = (facts.decode_error + "; " if facts.decode_error else "") + (
                    f"audio: {_av_message(e)}")
    _summarise(facts, seg)
    return facts


def _summarise(facts: ProbeFacts, seg: _Segment) -> None:
    extents = []
    if facts.has_video and seg.video_first is not None:
        extents.append(seg.video_last - max(seg.start, 0.0))
    if facts.has_audio and seg.audio_first is not None:
        extents.append(seg.audio_last - max(seg.start, 0.0))
    if extents:
        facts.duration = max(0.0, min(extents))
        if seg.end is not None:
            facts.duration = min(facts.duration, seg.end - seg.start)
    elif facts.has_video or facts.has_audio:
        facts.duration = 0.0
    if seg.n_samples:
        mean_square = seg.sum_squares / seg.n_samples
        facts.rms_db = max(SILENCE_FLOOR_DB, 10 * math.log10(mean_square)) if mean_square > 0 else SILENCE_FLOOR_DB
    thumbs = [th for _, th in sorted(seg.thumbs, key=lambda x: x[0])]
    facts.frames_sampled = len(thumbs)
    if thumbs:
        facts.luma = float(max(th.mean() for th in thumbs))
        facts.dark_share = min(dark_share(th) for th in thumbs)
        pairs = list(zip(thumbs, thumbs[1:], strict=False))
        facts.motion = float(max((np.abs(b - a).mean() for a, b in pairs), default=0.0))
        facts.block_motion = max((block_motion(a, b) for a, b in pairs), default=0.0)


def block_motion(a: np.ndarray, b: np.ndarray, grid: int = GRID) -> float:
    """The largest mean absolute difference between two grey images over the blocks of a ``grid`` x
    ``grid`` split (fewer rows or columns when the image has fewer pixels): where anything changes."""
    diff = np.abs(b.astype(np.float32) - a.astype(np.float32))
    h, w = diff.shape
    ys = np.linspace(0, h, min(grid, h) + 1).astype(int)
    xs = np.linspace(0, w, min(grid, w) + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(diff, ys[:-1], axis=0), xs[:-1], axis=1)
    return float((sums / np.outer(np.diff(ys), np.diff(xs))).max())


def dark_share(image: np.ndarray, dark_luma: float = DARK_LUMA) -> float:
    """The share of pixels of a grey image (0-255) at or below ``dark_luma``."""
    return float(np.count_nonzero(image <= dark_luma)) / max(1, image.size)
