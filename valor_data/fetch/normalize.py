"""Normalise one segment with a single ffmpeg run: an H.264 mp4 without audio plus a FLAC audio file.

The model reads video frames and audio separately, so the two go to separate files: video H.264 yuv420p,
``+faststart``, scaled to a short side (even sizes, square pixels), at the source frame rate capped at
``max_fps`` (or a fixed ``fps``); audio FLAC 16-bit at ``sample_rate`` / ``channels``. ffmpeg-python
builds the command. The cut happens once: a downloaded segment is only capped at the clip's duration, a
local full video is cut here (``-ss``/``-t`` on the input, frame-accurate because it is re-encoded).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from valor_data.clip import Status
from valor_data.fetch.failures import ClipFailure, classify, ffmpeg_error_text


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
        if self.sample_rate <= 0 or self.channels <= 0:
            raise ValueError("sample rate and channels must be > 0")

    def target_fps(self, source_fps: float | None) -> float | None:
        """The rate to resample to, or None to keep the source's."""
        if self.fps is not None:
            return self.fps
        if source_fps is not None and source_fps > self.max_fps + 1e-3:
            return self.max_fps
        if source_fps is None:
            return self.max_fps  # variable or unknown rate: make it constant
        return None


def _file(path: str | os.PathLike) -> str:
    # 'file:' + absolute path: never read as an option (ids may start with '-') nor as another protocol.
    return "file:" + str(Path(path).resolve())


def _scale_exprs(short_side: int) -> tuple[str, str]:
    s = short_side
    portrait = "lte(iw*sar,ih)"
    w = f"if({portrait},{s},2*round({s}*iw*sar/ih/2))"
    h = f"if({portrait},2*round({s}*ih/(iw*sar)/2),{s})"
    return w, h


def build_command(
    src: str | os.PathLike,
    video_out: str | os.PathLike,
    audio_out: str | os.PathLike,
    opts: NormalizeOptions,
    *,
    duration: float,
    start: float | None = None,
    source_fps: float | None = None,
) -> list[str]:
    """The ffmpeg argument list (``ffmpeg`` first) that writes ``video_out`` (mp4) and ``audio_out`` (flac)."""
    in_args: dict[str, object] = {"t": f"{duration:.3f}"}
    if start:
        in_args["ss"] = f"{start:.3f}"
    inp = ffmpeg.input(_file(src), **in_args)
    w, h = _scale_exprs(opts.short_side)
    v = inp.video.filter("scale", w=w, h=h).filter("setsar", "1")
    rate = opts.target_fps(source_fps)
    if rate is not None:
        v = v.filter("fps", fps=f"{rate:g}")
    vout = ffmpeg.output(
        v, _file(video_out), f="mp4", vcodec="libx264", preset=opts.preset, crf=opts.crf, pix_fmt="yuv420p",
        movflags="+faststart", an=None, map_metadata=-1,
    )
    aout = ffmpeg.output(
        inp.audio, _file(audio_out), f="flac", acodec="flac", ac=opts.channels, ar=opts.sample_rate,
        sample_fmt="s16", vn=None, map_metadata=-1,
    )
    stream = ffmpeg.merge_outputs(vout, aout).global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-y")
    return stream.compile(cmd="ffmpeg", overwrite_output=False)


def normalize(
    src: str | os.PathLike,
    video_out: str | os.PathLike,
    audio_out: str | os.PathLike,
    opts: NormalizeOptions,
    *,
    duration: float,
    start: float | None = None,
    source_fps: float | None = None,
) -> None:
    """Run the normalising ffmpeg; raise :class:`ClipFailure` with ffmpeg's own message when it fails."""
    cmd = build_command(src, video_out, audio_out, opts, duration=duration, start=start, source_fps=source_fps)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=opts.timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ClipFailure(Status.FFMPEG_ERROR, f"ffmpeg did not finish normalising within {opts.timeout_s:g} s") from None
    if proc.returncode != 0:
        text = ffmpeg_error_text(proc.stderr) or f"ffmpeg exited with code {proc.returncode}"
        decodes = classify(text, default=None) is Status.DECODE_ERROR
        raise ClipFailure(Status.DECODE_ERROR if decodes else Status.FFMPEG_ERROR, text)
    for out in (video_out, audio_out):
        if not Path(out).is_file() or Path(out).stat().st_size == 0:
            raise ClipFailure(Status.FFMPEG_ERROR, f"ffmpeg wrote no {Path(out).suffix or 'output'} data "
                                                   f"({ffmpeg_error_text(proc.stderr) or 'no message'})")
