"""Read media in-process with PyAV: a source's header facts before the pass (:func:`probe_input`), and
the pass's files afterwards (:func:`read_outputs`) with the measures the filters decide on.

The normalising pass (``normalize``) writes the clip and samples small colour thumbnails of it on the way,
so no filter re-opens or re-decodes the file. :func:`read_outputs` gives:
* stream facts: duration, fps, size, codecs, sample rate, channels (from the containers);
* ``rms_db``: the RMS level of all audio of the clip, in dBFS (floor -120 for digital silence);
* on the pass's thumbnails (Y, Cb and Cr planes, 0-255), compared between every two of them (the clip's
  first and last frames included, so slow motion adds up): ``motion``, the largest mean absolute grey
  difference over the whole picture, and ``block_motion`` / ``colour_motion``, the same on the worst block
  of a ``GRID`` x ``GRID`` split of the picture in the Y plane / in either chroma plane (change anywhere
  counts: a small object moving over a still background is motion, and so is one of another colour but
  the same brightness); ``luma``, the brightest thumbnail's mean, and ``dark_share``, the smallest share
  of dark pixels (at most ``DARK_LUMA``) of any thumbnail (black means almost every pixel dark, as in
  ffmpeg's blackdetect).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import av
import numpy as np

SILENCE_FLOOR_DB = -120.0
THUMB_WIDTH = 64
GRID = 16  # block_motion, colour_motion: 16 x 16 blocks, each 1/256 of the picture (4 x 3 pixels at 4:3)
DARK_LUMA = 25.0  # a dark pixel, 0-255: about ffmpeg blackdetect's default (10 % of the video range)


class ProbeError(Exception):
    """The file cannot be opened or decoded at all; the message is PyAV's/FFmpeg's."""


@dataclass
class ProbeFacts:
    """What the filters decide on, measured on the pass's files; serialised into the manifest's ``probe``
    column."""

    duration: float | None = None  # seconds of the clip that decoded (min over the streams present)
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
    colour_motion: float | None = None
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


class _Segment:
    """What reading the pass's files collects: stream extents, audio sums and the thumbnails."""

    def __init__(self) -> None:
        self.thumbs: list[tuple[float, np.ndarray]] = []
        self.video_last = None
        self.video_first = None
        self.audio_first = None
        self.audio_last = None
        self.sum_squares = 0.0
        self.n_samples = 0


def _summarise(facts: ProbeFacts, seg: _Segment) -> None:
    extents = []
    if facts.has_video and seg.video_first is not None:
        extents.append(seg.video_last)
    if facts.has_audio and seg.audio_first is not None:
        extents.append(seg.audio_last)
    if extents:
        facts.duration = max(0.0, min(extents))
    elif facts.has_video or facts.has_audio:
        facts.duration = 0.0
    if seg.n_samples:
        mean_square = seg.sum_squares / seg.n_samples
        facts.rms_db = max(SILENCE_FLOOR_DB, 10 * math.log10(mean_square)) if mean_square > 0 else SILENCE_FLOOR_DB
    thumbs = [th for _, th in sorted(seg.thumbs, key=lambda x: x[0])]
    facts.frames_sampled = len(thumbs)
    if thumbs:
        facts.luma = float(max(th[..., 0].mean() for th in thumbs))
        facts.dark_share = min(dark_share(th[..., 0]) for th in thumbs)
        facts.motion, facts.block_motion, facts.colour_motion = picture_change(np.stack(thumbs))


def picture_change(thumbs: np.ndarray, grid: int = GRID) -> tuple[float, float, float]:
    """How much the picture changes between any two of ``thumbs`` (``(n, height, width, 3)``: Y, Cb, Cr,
    0-255): the largest mean absolute difference over the whole Y plane, and over the worst block of a
    ``grid`` x ``grid`` split (fewer rows or columns when the image has fewer pixels) in the Y plane and in
    the chroma planes. Every pair rather than neighbours: slow motion changes little from one sampled frame
    to the next and a lot from the first to the last."""
    first, second = np.triu_indices(len(thumbs), k=1)
    if not len(first):
        return 0.0, 0.0, 0.0
    diff = np.abs(thumbs[second] - thumbs[first])  # (pairs, height, width, planes)
    h, w = diff.shape[1:3]
    ys = np.linspace(0, h, min(grid, h) + 1).astype(int)
    xs = np.linspace(0, w, min(grid, w) + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(diff, ys[:-1], axis=1), xs[:-1], axis=2)
    blocks = sums / np.outer(np.diff(ys), np.diff(xs))[None, :, :, None]
    return float(diff[..., 0].mean(axis=(1, 2)).max()), float(blocks[..., 0].max()), float(blocks[..., 1:].max())


def dark_share(image: np.ndarray, dark_luma: float = DARK_LUMA) -> float:
    """The share of pixels of a grey image (0-255) at or below ``dark_luma``."""
    return float(np.count_nonzero(image <= dark_luma)) / max(1, image.size)


# ----------------------------------------------------------------------------------------------------
# Sources before the normalising pass: what their headers say
# ----------------------------------------------------------------------------------------------------
# Demuxers that cannot seek to a keyframe (no index): their seek lands on any packet, so the pass reads them
# from the keyframe before the segment, found by scanning packets (:func:`keyframe_before`).
NO_INDEX_FORMATS = frozenset({"mpegts", "mpegtsraw", "mpeg", "mpegvideo", "h264", "hevc", "m4v"})
KEYFRAME_WINDOW_S = 5.0  # the first look back for a keyframe; doubled until one is found


@dataclass
class InputFacts:
    """What a source's header says, plus its first video frame (display rotation). Times are seconds of
    player time: 0 is the container's first timestamp, where a player starts."""

    format: str = ""
    start_time: float = 0.0  # the container's first timestamp, seconds (player time 0)
    duration: float | None = None  # of the whole source
    size: int | None = None  # bytes, when the file or server says
    vcodec: str | None = None
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    sar: Fraction | None = None
    rotation: int = 0  # degrees the player turns the stored picture counter-clockwise
    fps: float | None = None  # average frame rate
    base_rate: Fraction | None = None  # the rate that represents every timestamp (VFR: the fastest)
    video_start: float | None = None
    acodec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    audio_start: float | None = None
    keyframe: float | None = None  # sources without an index: the keyframe the segment decodes from (dts)

    @property
    def has_video(self) -> bool:
        return self.vcodec is not None

    @property
    def has_audio(self) -> bool:
        return self.acodec is not None

    @property
    def indexed(self) -> bool:
        """Whether the demuxer seeks to keyframes (else the pass reads from the keyframe before the segment)."""
        return not (set(self.format.split(",")) & NO_INDEX_FORMATS)

    def with_audio_of(self, other: InputFacts) -> InputFacts:
        """These video facts with ``other``'s audio facts (split DASH: one input each)."""
        merged = InputFacts(**{**asdict(self), "sar": self.sar, "base_rate": self.base_rate})
        merged.acodec, merged.sample_rate, merged.channels = other.acodec, other.sample_rate, other.channels
        merged.audio_start = other.audio_start
        if other.duration is not None:
            merged.duration = other.duration if merged.duration is None else max(merged.duration, other.duration)
        merged.size = (self.size or 0) + (other.size or 0) or None
        return merged

    def to_dict(self) -> dict:
        """The source facts the manifest keeps (``probe.source``)."""
        d = {k: v for k, v in asdict(self).items() if v is not None}
        d["sar"] = f"{self.sar.numerator}:{self.sar.denominator}" if self.sar else None
        d["base_rate"] = str(self.base_rate) if self.base_rate else None
        return {k: _round(v) for k, v in d.items() if v is not None}


def _rotation(container: av.container.InputContainer, stream, max_packets: int = 64) -> int:
    """Display rotation from the first decodable frame (PyAV exposes the display matrix on frames)."""
    frames = 0
    for packet in container.demux(stream):
        for frame in packet.decode():
            return int(round(frame.rotation or 0)) % 360
        frames += 1
        if frames >= max_packets:
            for frame in stream.codec_context.decode(None):  # drain a decoder that returns frames late
                return int(round(frame.rotation or 0)) % 360
            break
    return 0


def keyframe_before(container: av.container.InputContainer, stream, t: float, start: float) -> float | None:
    """The decode time (player time) of the last video keyframe shown at or before ``t``, for a demuxer
    without an index: its packets are scanned (not decoded) from ``KEYFRAME_WINDOW_S`` before ``t``, the
    window doubled until a keyframe turns up. None when none does before the file's start (decode from
    there). ``start``: the container's first timestamp (player time 0)."""
    tb = float(stream.time_base)
    window = KEYFRAME_WINDOW_S
    while True:
        since = max(0.0, t - window)
        # From 0: the stream's first packet (a first keyframe decodes before player time 0 when B-frames delay it).
        container.seek(int((since + start) / tb) if since else 0, stream=stream, backward=True)
        key = None
        for packet in container.demux(stream):
            if packet.dts is None:
                continue
            if packet.dts * tb - start > t:  # decode order: nothing later is shown at or before t
                break
            if packet.is_keyframe and packet.pts is not None and packet.pts * tb - start <= t:
                key = packet.dts * tb - start
        if key is not None or since == 0:
            return key
        window *= 2


def probe_input(url: str | os.PathLike, options: dict[str, str] | None = None,
                segment_start: float | None = None) -> InputFacts:
    """Open a source (a path, or an http(s) URL with ffmpeg protocol ``options``: headers, cookies,
    rw_timeout...) and read its header and first video frame; on a source without an index, also the
    keyframe ``segment_start`` decodes from. Raises :class:`ProbeError` with PyAV's message ("Server
    returned 404 Not Found", "Connection timed out", "Invalid data found ...")."""
    target = os.fspath(url)
    try:
        container = av.open(target, options=dict(options or {}))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise ProbeError(_av_message(e)) from None
    with container:
        start = container.start_time / av.time_base if container.start_time is not None else 0.0
        facts = InputFacts(format=container.format.name, start_time=start,
                           duration=container.duration / av.time_base if container.duration else None,
                           size=container.size if (container.size or 0) > 0 else None)

        def rel(stream) -> float | None:
            return float(stream.start_time * stream.time_base) - start if stream.start_time is not None else None

        if container.streams.audio:
            a = container.streams.audio[0]
            facts.acodec, facts.audio_start = a.codec_context.name, rel(a)
            facts.sample_rate, facts.channels = a.codec_context.sample_rate or None, a.codec_context.channels or None
        if container.streams.video:
            v = container.streams.video[0]
            cc = v.codec_context
            facts.vcodec, facts.width, facts.height = cc.name, cc.width or None, cc.height or None
            facts.pix_fmt = cc.pix_fmt
            sar = v.sample_aspect_ratio or cc.sample_aspect_ratio
            facts.sar = Fraction(sar) if sar else None
            facts.fps = float(v.average_rate) if v.average_rate else None
            facts.base_rate = Fraction(v.base_rate) if v.base_rate else None
            facts.video_start = rel(v)
            cc.thread_count = 1  # one frame: starting decoder threads would cost more than it saves
            try:
                facts.rotation = _rotation(container, v)
            except (av.error.FFmpegError, ValueError) as e:
                raise ProbeError(f"the first video frame does not decode: {_av_message(e)}") from None
            if segment_start and not facts.indexed:
                try:
                    facts.keyframe = keyframe_before(container, v, segment_start, start)
                except (av.error.FFmpegError, ValueError) as e:
                    raise ProbeError(f"looking for the keyframe before {segment_start:g} s: {_av_message(e)}") from None
    return facts


# ----------------------------------------------------------------------------------------------------
# The pass's outputs: facts, the filters' measures and the checks against the segment
# ----------------------------------------------------------------------------------------------------
@dataclass
class OutputFacts:
    """The normalised files as read back (``probe.output`` in the manifest)."""

    streams: int = 0  # in the mp4
    vcodec: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    sar: str | None = None
    rotation: int = 0
    fps: float | None = None
    frames: int = 0
    video_start: float | None = None
    duration: float | None = None  # of the video
    acodec: str | None = None
    sample_fmt: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    samples: int = 0
    audio_start: float | None = None
    audio_duration: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**{k: _round(v) for k, v in d.items() if v is not None}, **extra}


def read_outputs(video: str | os.PathLike, audio: str | os.PathLike,
                 thumbs: list[np.ndarray]) -> tuple[OutputFacts, ProbeFacts]:
    """Read the pass's files back: their facts, and the probe facts the filters decide on (durations, the
    RMS of the audio, and the picture measures on ``thumbs``, the thumbnails the pass sampled)."""
    out = OutputFacts()
    seg = _Segment()
    facts = ProbeFacts()
    try:
        with av.open(os.fspath(video)) as c:
            out.streams = len(c.streams)
            if c.streams.video:
                v = c.streams.video[0]
                cc = v.codec_context
                out.vcodec, out.pix_fmt, out.width, out.height = cc.name, cc.pix_fmt, cc.width, cc.height
                sar = v.sample_aspect_ratio
                out.sar = f"{sar.numerator}:{sar.denominator}" if sar else None
                cc.thread_count = 1  # one frame is decoded (rotation): no decoder threads
                tb = float(v.time_base)
                durations = set()
                first_frame = True
                for packet in c.demux(v):
                    if packet.size == 0 or packet.pts is None:
                        continue
                    if first_frame:  # the display matrix rides on decoded frames
                        for frame in packet.decode():
                            out.rotation = int(round(frame.rotation or 0)) % 360
                        first_frame = False
                    t, d = packet.pts * tb, (packet.duration or 0) * tb
                    out.frames += 1
                    durations.add(packet.duration)
                    out.video_start = t if out.video_start is None else min(out.video_start, t)
                    seg.video_first = out.video_start
                    seg.video_last = t + d if seg.video_last is None else max(seg.video_last, t + d)
                if out.frames:
                    out.duration = seg.video_last - out.video_start
                    rate = v.average_rate or v.guessed_rate
                    out.fps = float(rate) if rate else None
                    if len(durations) > 1:
                        out.extra["frame_durations"] = sorted(int(x or 0) for x in durations)[:4]
        with av.open(os.fspath(audio)) as c:
            if c.streams.audio:
                a = c.streams.audio[0]
                cc = a.codec_context
                out.acodec, out.sample_fmt = cc.name, cc.format.name if cc.format else None
                out.sample_rate, out.channels = cc.sample_rate, cc.channels
                cc.thread_count = 1  # frame threads cost more than a small FLAC takes to decode
                _sum_squares(c, a, seg)
                out.samples = seg.n_samples // max(1, cc.channels or 1)
                if seg.audio_first is not None:
                    out.audio_start = seg.audio_first
                    out.audio_duration = seg.audio_last - seg.audio_first
    except (av.error.FFmpegError, ValueError) as e:
        facts.decode_error = f"output: {_av_message(e)}"
    facts.has_video, facts.has_audio = out.vcodec is not None, out.acodec is not None
    facts.width, facts.height, facts.fps, facts.vcodec = out.width, out.height, out.fps, out.vcodec
    facts.acodec, facts.sample_rate, facts.channels = out.acodec, out.sample_rate, out.channels
    seg.thumbs = [(float(i), th) for i, th in enumerate(thumbs)]
    _summarise(facts, seg)
    return out, facts


def _sum_squares(container: av.container.InputContainer, stream, seg: _Segment) -> None:
    """Every sample of a file's audio into ``seg`` (extent, sum of squares): the whole file, in one
    vectorised sum rather than one per frame."""
    chunks, first = [], None
    for frame in container.decode(stream):
        if first is None and frame.time is not None:
            first = float(frame.time)
        chunks.append(frame.to_ndarray().reshape(-1))
    if not chunks:
        return
    x = _to_float(np.concatenate(chunks))
    seg.sum_squares, seg.n_samples = float(np.square(x).sum()), x.size  # no BLAS: its threads spin
    rate = stream.codec_context.sample_rate or 1
    seg.audio_first = first or 0.0
    seg.audio_last = seg.audio_first + x.size / max(1, stream.codec_context.channels or 1) / rate


@dataclass(frozen=True)
class OutputSpec:
    """What the pass's files must be, for :func:`check_outputs`."""

    duration: float  # the segment's length, seconds
    short_side: int
    rate: Fraction  # frames/s
    sample_rate: int
    channels: int
    size: tuple[int, int] | None = None  # width, height when the source's display size is known
    audio_tolerance: float = 0.02  # seconds
    start: float = 0.0  # the segment's start in the source (player time), for messages
    source_fps: float | None = None  # the source's average frame rate
    video_from: float = 0.0  # where the source's picture starts in the segment (> 0: it starts late)

    @property
    def video_tolerance(self) -> float:
        return 1 / float(self.rate) + 1e-3

    @property
    def frame_s(self) -> float:
        """One frame: of the output, or of the source when it is slower."""
        return max(1 / float(self.rate), 1 / self.source_fps if self.source_fps else 0.0)


GAP_FRAMES = 4  # decoded frames further apart than this many frames leave a gap the frame-rate step fills


@dataclass(frozen=True)
class OutputProblem:
    """One way the files differ from the spec. ``short``: a stream does not last the segment; ``gap``: a
    stretch of it has no decoded source frame."""

    message: str
    short: bool = False
    gap: bool = False


def frame_gaps(times: Sequence[float], spec: OutputSpec) -> list[tuple[float, float]]:
    """The stretches of the segment (seconds from its start) without a frame the decoder produced: before
    the first one, when it comes more than a frame after the source's picture starts, and between two that
    are more than ``GAP_FRAMES`` frames apart."""
    inside = sorted(t for t in times if t < spec.duration)
    if not inside:
        return []
    slack = 1e-3
    gaps = [(spec.video_from, inside[0])] if inside[0] - spec.video_from > spec.frame_s + slack else []
    gaps += [(a, b) for a, b in itertools.pairwise(inside) if b - a > GAP_FRAMES * spec.frame_s + slack]
    return gaps


def check_outputs(out: OutputFacts, spec: OutputSpec,
                  frame_times: Sequence[float] | None = None) -> tuple[list[OutputProblem], list[str]]:
    """Compare the read-back files with what was asked, and ``frame_times`` (the decoded frames' times,
    seconds from the segment's start) with the segment; returns (problems, the names of the checks made)."""
    problems: list[OutputProblem] = []
    checked: list[str] = []

    def check(name: str, ok: bool, message: str, short: bool = False, gap: bool = False) -> None:
        checked.append(name)
        if not ok:
            problems.append(OutputProblem(message, short, gap))

    check("video_stream", out.streams == 1 and out.vcodec == "h264" and out.pix_fmt == "yuv420p",
          f"the mp4 holds {out.streams} stream(s), video {out.vcodec} {out.pix_fmt}, not one H.264 yuv420p stream")
    if out.width and out.height:
        w, h = out.width, out.height
        check("size", w % 2 == 0 and h % 2 == 0 and min(w, h) == spec.short_side,
              f"the video is {w}x{h}: not even with short side {spec.short_side}")
        if spec.size is not None:
            check("aspect", abs(w - spec.size[0]) <= 2 and abs(h - spec.size[1]) <= 2,
                  f"the video is {w}x{h}, the source as a player shows it makes {spec.size[0]}x{spec.size[1]}")
    check("square_pixels", out.sar in (None, "1:1", "0:1"), f"the video's pixels are {out.sar}, not square")
    check("no_rotation", out.rotation == 0, f"the video still carries a display rotation of {out.rotation} degrees")
    fps_ok = out.fps is not None and abs(out.fps - float(spec.rate)) < 1e-3 and "frame_durations" not in out.extra
    check("fps", fps_ok, f"the video runs at {out.fps} frames/s (frame durations {out.extra.get('frame_durations')}), "
                         f"not a constant {float(spec.rate):g}")
    d = spec.duration
    check("video_start", out.video_start is not None and abs(out.video_start) < spec.video_tolerance,
          f"the video starts at {out.video_start} s, not at the segment's start")
    vd = out.duration or 0.0
    check("video_duration", abs(vd - d) <= spec.video_tolerance,
          f"the video lasts {vd:.3f} s of the {d:.3f} s segment", short=vd < d)
    check("audio_format", out.acodec == "flac" and out.sample_fmt in ("s16", "s16p")
          and out.sample_rate == spec.sample_rate and out.channels == spec.channels,
          f"the audio is {out.acodec} {out.sample_fmt} {out.sample_rate} Hz x {out.channels}, not 16-bit FLAC "
          f"{spec.sample_rate} Hz x {spec.channels}")
    ad = out.audio_duration or 0.0
    check("audio_duration", abs(ad - d) <= spec.audio_tolerance,
          f"the audio lasts {ad:.3f} s of the {d:.3f} s segment", short=ad < d)
    if frame_times is not None:
        gaps = frame_gaps(frame_times, spec)
        where = ", ".join(f"{a:.3f}-{b:.3f} s (source {spec.start + a:.3f}-{spec.start + b:.3f} s)" for a, b in gaps)
        check("source_frames", not gaps, f"no source frame decoded for {where} of the segment: the picture there "
                                         f"would be a held frame", gap=True)
    return problems, checked
