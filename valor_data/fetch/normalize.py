"""The normalising pass: one ffmpeg run per clip reads the source - a local file, or one or two URLs (split
DASH video + audio) with input seeking over HTTP Range requests - and writes the clip's outputs directly:

* an H.264 yuv420p mp4 without audio, ``+faststart``: the picture as a player shows it (display rotation
  applied by ffmpeg's autorotate, pixel aspect applied, square pixels), short side ``short_side`` with
  even sizes, a constant frame rate (the source's, capped at ``max_fps``, or a fixed ``fps``);
* a 16-bit FLAC at ``sample_rate`` / ``channels``;
* small thumbnails (Y, Cb and Cr planes, full range 0-255) of frames spread over the whole clip, its
  first and last frames included, piped back (y4m) for the probe's picture measures, so nothing decodes
  the new mp4 again;
* the time of every frame the decoder produced inside the segment, before the frame-rate step fills any hole
  (a text file beside the mp4, read back into :class:`PassResult`): the output check that no stretch of the
  segment shows a frame the source does not show there.

Both outputs start at the segment's start: the cut is frame- and sample-accurate (input ``-ss``/``-t``,
decoded and trimmed), and a stream that starts late inside the segment is padded at the start (the
first frame held, silence) so that picture and sound stay in sync, as a player shows them. Nothing is
padded at the end: a source that stops early yields short outputs, which the output checks reject.
Sources whose demuxer cannot seek to a keyframe (MPEG-TS, MPEG-PS, raw streams) are read from the keyframe
before the segment (``preroll``: found by the probe, :func:`~valor_data.fetch.probe.keyframe_before`) and
trimmed, so every frame of the segment decodes and no half-decoded frame reaches the output.

x264 runs single-threaded: its frame threads make the bitstream depend on thread timing (rare, but
measured: same frames, a few different bytes) and on the machine's core count; one thread per clip,
with clips in parallel, gives byte-identical reruns at the same throughput.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from valor_data.clip import Status
from valor_data.fetch.failures import ClipFailure, classify, ffmpeg_error_text
from valor_data.fetch.probe import THUMB_WIDTH

THUMBNAILS = 8  # frames sampled for the probe's picture measures


@dataclass(frozen=True)
class NormalizeOptions:
    fps: float | None = None  # None: keep the source rate, capped at max_fps
    max_fps: float = 30.0
    short_side: int = 224
    sample_rate: int = 16000
    channels: int = 1
    crf: int = 23
    preset: str = "veryfast"
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.short_side < 2:
            raise ValueError(f"--short-side must be >= 2 pixels, got {self.short_side}")
        if self.short_side % 2:
            raise ValueError(f"--short-side {self.short_side} is odd: H.264 yuv420p needs even sizes")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.max_fps <= 0:
            raise ValueError(f"--max-fps must be > 0, got {self.max_fps}")
        if self.sample_rate <= 0 or self.channels <= 0:
            raise ValueError("sample rate and channels must be > 0")

    def output_rate(self, source_rate: Fraction | float | None) -> Fraction:
        """The output's constant frame rate: ``fps``, else the source's capped at ``max_fps`` (``max_fps``
        when the source's is unknown)."""
        if self.fps is not None:
            return _fraction(self.fps)
        cap = _fraction(self.max_fps)
        if source_rate is None or source_rate <= 0:
            return cap
        return min(_fraction(source_rate), cap)


def _fraction(rate: Fraction | float) -> Fraction:
    # 29.97 and friends: the nearest fraction with a denominator up to 1001 (30000/1001).
    return Fraction(rate).limit_denominator(1001)


def display_size(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[float, float]:
    """The picture a player shows: pixel aspect applied, then a quarter-turn rotation."""
    w = width * (float(sar) if sar else 1.0)
    return (height, w) if rotation % 180 else (w, height)


def output_size(display: tuple[float, float], short_side: int) -> tuple[int, int]:
    """Width and height of the normalised video for a displayed picture (what the scale filter computes)."""
    w, h = display
    if w <= h:
        return short_side, 2 * round(short_side * h / w / 2)
    return 2 * round(short_side * w / h / 2), short_side


def _scale_exprs(short_side: int) -> tuple[str, str]:
    # After autorotate (inserted before our filters), iw/ih are displayed sizes in stored pixels.
    s = short_side
    portrait = "lte(iw*sar,ih)"
    w = f"if({portrait},{s},2*round({s}*iw*sar/ih/2))"
    h = f"if({portrait},2*round({s}*ih/(iw*sar)/2),{s})"
    return w, h


@dataclass(frozen=True)
class PassInput:
    """One input of the pass: a local path or an http(s) URL, with what ffmpeg needs to read it."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    cookies: str | None = None  # ffmpeg's -cookies text (Set-Cookie-like lines)
    proxy: str | None = None
    seek_timestamp: bool = False  # -ss names a timestamp of the file rather than an offset from its start

    @property
    def is_url(self) -> bool:
        return bool(re.match(r"^https?://", self.url))


def local_input(path: str | os.PathLike) -> PassInput:
    # 'file:' + absolute path: never read as an option (ids may start with '-') nor as another protocol.
    return PassInput("file:" + str(Path(path).resolve()))


@dataclass(frozen=True)
class Cut:
    """What the pass takes from its inputs: ``duration`` seconds from ``start`` (player time of the inputs),
    the video of input ``video_input`` and the audio of input ``audio_input``, at ``rate`` frames/s."""

    start: float
    duration: float
    rate: Fraction
    video_input: int = 0
    audio_input: int = 0
    preroll: float = 0.0  # read and decode this much before ``start`` (from a keyframe), then drop it


@dataclass
class PassResult:
    """What the pass reports besides its files: the thumbnails, the times (seconds from the segment's start)
    of the frames the decoder produced, and ffmpeg's warnings."""

    thumbs: list[np.ndarray] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _input_args(inp: PassInput, start: float, duration: float, socket_timeout: float | None) -> list[str]:
    # One decoder thread: clips already run in parallel (a worker per core), where frame threads only add
    # contention (2 workers on 2 cores: 8-12 % less wall time in benchmarks/pipeline_throughput.py's setup).
    args = ["-threads", "1"]
    if inp.is_url:
        if socket_timeout:
            args += ["-rw_timeout", str(int(socket_timeout * 1_000_000))]  # ffmpeg's socket timeout (us)
        if inp.headers:
            # One "Name: value\r\n" line per header; ffmpeg warns without the trailing CRLF.
            args += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in inp.headers)]
        if inp.cookies:
            args += ["-cookies", inp.cookies]
        if inp.proxy:
            args += ["-http_proxy", inp.proxy]
    if inp.seek_timestamp:
        args += ["-seek_timestamp", "1", "-ss", f"{start:.6f}"]
    elif start > 0:  # no seek at all from the start: a seek to 0 may land on the first video keyframe
        args += ["-ss", f"{start:.6f}"]
    return [*args, "-t", f"{duration:.6f}", "-i", inp.url]


def thumbnail_frames(cut: Cut) -> list[int]:
    """The output frames the pass samples as thumbnails: ``THUMBNAILS`` spread evenly from the first frame to
    the last, whatever the clip's length, so the frozen filter compares the clip's ends too."""
    last = max(0, math.ceil(cut.duration * cut.rate - 1e-6) - 1)
    return sorted({round(last * k / (THUMBNAILS - 1)) for k in range(THUMBNAILS)})


def _filter_value(text: str) -> str:
    """``text`` as a filter's option value inside a filter graph: escaped for the option parser, then for
    the graph's parser (ffmpeg-filters, "Notes on filtergraph escaping")."""
    for special in ("\\':", "\\'[],;"):
        text = "".join("\\" + c if c in special else c for c in text)
    return text


def filter_graph(cut: Cut, short_side: int, frames_out: str | os.PathLike) -> str:
    """The pass's filter graph: ``[v]`` the picture, ``[t]`` the thumbnails, ``[a]`` the sound; the time
    of each decoded frame of the segment goes to ``frames_out`` (``metadata`` prints only frames that
    carry a key: the first filter adds one). Commas inside an option are escaped (``\\,``): unescaped
    they separate filters."""
    pre = cut.preroll
    w, h = (e.replace(",", "\\,") for e in _scale_exprs(short_side))
    video = [f"[{cut.video_input}:v:0]"]
    audio = [f"[{cut.audio_input}:a:0]"]
    chain_v, chain_a = [], []
    if pre:
        chain_v += [f"trim=start={pre:.6f}", f"setpts=PTS-{pre:.6f}/TB"]
        chain_a += [f"atrim=start={pre:.6f}", f"asetpts=PTS-{pre:.6f}/TB"]
    chain_v += ["metadata=mode=add:key=decoded:value=1",
                f"metadata=mode=print:key=decoded:file={_filter_value(os.fspath(frames_out))}"]
    chain_v += [f"scale=w={w}:h={h}", "setsar=1", f"fps=fps={cut.rate}:start_time=0", "format=yuv420p",
                "split=2[v][sampled]"]
    picks = "+".join(f"eq(n\\,{i})" for i in thumbnail_frames(cut))
    thumbs = f"[sampled]select={picks},scale=w={THUMB_WIDTH}:h=-2:out_range=full,format=yuv444p[t]"
    chain_a += ["aresample=async=1:first_pts=0[a]"]  # pad a late start, keep gaps in sync
    return ";".join([video[0] + ",".join(chain_v), thumbs, audio[0] + ",".join(chain_a)])


def build_command(
    inputs: Sequence[PassInput],
    cut: Cut,
    video_out: str | os.PathLike,
    audio_out: str | os.PathLike,
    opts: NormalizeOptions,
    *,
    socket_timeout: float | None = None,
) -> list[str]:
    """The ffmpeg argument list (``ffmpeg`` first) of the pass; thumbnails go to stdout as y4m, the decoded
    frames' times to :func:`frames_file` of ``video_out``."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+warning", "-y"]
    for inp in inputs:
        cmd += _input_args(inp, cut.start - cut.preroll, cut.duration + cut.preroll, socket_timeout)
    t = f"{cut.duration:.6f}"
    no_metadata = ["-map_metadata", "-1", "-map_chapters", "-1"]
    cmd += ["-filter_complex", filter_graph(cut, opts.short_side, frames_file(video_out))]
    cmd += ["-map", "[v]", "-c:v", "libx264", "-preset", opts.preset, "-crf", str(opts.crf), "-threads", "1",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", *no_metadata, "-t", t, "-f", "mp4", _file(video_out)]
    cmd += ["-map", "[a]", "-c:a", "flac", "-ac", str(opts.channels), "-ar", str(opts.sample_rate),
            "-sample_fmt", "s16", *no_metadata, "-t", t, "-f", "flac", _file(audio_out)]
    cmd += ["-map", "[t]", "-f", "yuv4mpegpipe", "-fps_mode", "passthrough", "pipe:1"]
    return cmd


def _file(path: str | os.PathLike) -> str:
    return local_input(path).url


def frames_file(video_out: str | os.PathLike) -> Path:
    """Where the pass writes the times of the frames it decoded: beside the mp4."""
    return Path(video_out).with_suffix(".frames.txt")


_PTS_TIME_RE = re.compile(rb"pts_time:(-?[0-9.]+(?:e[-+]?[0-9]+)?)")


def read_frame_times(path: str | os.PathLike) -> list[float]:
    """The frame times a ``metadata=mode=print`` filter wrote (lines ``frame:N pts:P pts_time:T``)."""
    return [float(m) for m in _PTS_TIME_RE.findall(Path(path).read_bytes())]


def read_y4m(data: bytes) -> list[np.ndarray]:
    """Frames of a 4:4:4 (C444) y4m stream, each ``(height, width, 3)``: the Y, Cb and Cr planes."""
    if not data:
        return []
    head, _, body = data.partition(b"\n")
    fields = dict((f[:1], f[1:]) for f in head.split()[1:])
    w, h = int(fields[b"W"]), int(fields[b"H"])
    if not fields.get(b"C", b"").startswith(b"444"):
        raise ValueError(f"y4m thumbnails are C{fields.get(b'C', b'?').decode()}, not C444 (planar Y, Cb, Cr)")
    frames, pos, size = [], 0, 3 * w * h
    while pos < len(body):
        nl = body.find(b"\n", pos)
        if nl < 0 or not body.startswith(b"FRAME", pos) or nl + 1 + size > len(body):
            break
        planes = np.frombuffer(body, np.uint8, size, nl + 1).reshape(3, h, w)
        frames.append(planes.transpose(1, 2, 0).astype(np.float32))
        pos = nl + 1 + size
    return frames


_LEVEL_RE = re.compile(r"^(?:\[[^\]]*\] )*\[(\w+)\] ?(.*)$")


def _parse_log(stderr: str) -> tuple[list[str], list[str]]:
    """Split a ``level+warning`` log into (errors and warnings, errors only), without the level tags."""
    problems, errors = [], []
    for line in stderr.splitlines():
        m = _LEVEL_RE.match(line)
        if m and m.group(1) in ("warning", "error", "fatal", "panic"):
            problems.append(re.sub(r"\[(?:warning|error|fatal|panic)\] ", "", line).strip())
            if m.group(1) != "warning":
                errors.append(problems[-1])
        elif not m and line.strip():
            problems.append(line.strip())  # ffmpeg's own untagged lines (its final error, say)
            errors.append(problems[-1])
    return problems, errors


def normalize(
    inputs: Sequence[PassInput],
    cut: Cut,
    video_out: str | os.PathLike,
    audio_out: str | os.PathLike,
    opts: NormalizeOptions,
    *,
    socket_timeout: float | None = None,
) -> PassResult:
    """Run the pass; raise :class:`ClipFailure` with ffmpeg's own words when it fails, including a read cut
    short (ffmpeg exits 0 on "Stream ends prematurely") - the network reasons are retried by the caller."""
    cmd = build_command(inputs, cut, video_out, audio_out, opts, socket_timeout=socket_timeout)
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=opts.timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ClipFailure(Status.TIMEOUT if any(i.is_url for i in inputs) else Status.FFMPEG_ERROR,
                          f"ffmpeg did not finish the clip within {opts.timeout_s:g} s") from None
    stderr = proc.stderr.decode(errors="replace")
    problems, errors = _parse_log(stderr)
    text = ffmpeg_error_text("\n".join(problems))
    if proc.returncode != 0:
        text = text or f"ffmpeg exited with code {proc.returncode}"
        reason = classify(text, default=None)
        if reason is None or reason in (Status.TOO_LARGE, Status.ERROR):
            reason = Status.FFMPEG_ERROR
        raise ClipFailure(reason, text)
    # ffmpeg exits 0 when an HTTP body ends early or the connection breaks mid-read: the outputs are short.
    cut_short = [p for p in problems if classify(p, default=None) in (Status.NETWORK, Status.TIMEOUT,
                                                                       Status.RATE_LIMITED)]
    if cut_short and any(i.is_url for i in inputs):
        raise ClipFailure(classify(cut_short[0]), "ffmpeg: " + ffmpeg_error_text("\n".join(cut_short)))
    for out in (video_out, audio_out):
        if not Path(out).is_file() or Path(out).stat().st_size == 0:
            raise ClipFailure(Status.FFMPEG_ERROR, f"ffmpeg wrote no {Path(out).suffix or 'output'} data "
                                                   f"({text or 'no message'})")
    if not frames_file(video_out).is_file():  # empty when no frame decoded: the outputs are short
        raise ClipFailure(Status.FFMPEG_ERROR, f"ffmpeg wrote no {frames_file(video_out).name} ({text or 'no message'})")
    return PassResult(read_y4m(proc.stdout), read_frame_times(frames_file(video_out)), problems)
