"""A clip's frames and sound in the official VALOR layout, made by one ffmpeg process that reads the
clip's members in place in their tar (ffmpeg's ``subfile`` protocol): nothing is unpacked to disk.

Each clip appears whole or not at all: frames are written into a temporary folder and the wav under a
temporary name (:func:`valor_data.atomic.temp_name`), the wav is moved into place, and the frames folder
last: its presence marks the clip done, so a killed run's rerun redoes exactly the unfinished clips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from valor_data.atomic import temp_name
from valor_data.release.shard_clips import ShardClip
from valor_data.release.valor_layout import (
    AUDIO_DIR,
    AUDIO_SAMPLE_RATE,
    FRAME_PATTERN,
    JPEG_QSCALE,
    MAX_FRAMES,
    ValorLayout,
)

FFMPEG_TIMEOUT_S = 600.0
WAV_HEADER_BYTES = 44


class ClipExportError(Exception):
    """A clip whose media could not be made; the message is the reason, one line."""


@dataclass(frozen=True)
class ExportTask:
    """A slice of the clips to export, and where: picklable, for any distributor."""

    index: int
    out_dir: str
    layout: ValorLayout
    clips: tuple[ShardClip, ...]


@dataclass(frozen=True)
class ClipOutcome:
    """What became of one clip: ``error`` is empty when its frames (and wav, if it has sound) are in place."""

    clip_id: str
    error: str = ""


def frames_path(out: Path, layout: ValorLayout, clip_id: str) -> Path:
    return out / layout.frames_dir / clip_id


def wav_path(out: Path, clip_id: str) -> Path:
    return out / AUDIO_DIR / f"{clip_id}.wav"


def is_done(out: Path, layout: ValorLayout, clip: ShardClip) -> bool:
    """The clip's frames folder is in place (written last), and its wav when it has sound."""
    if not frames_path(out, layout, clip.clip_id).is_dir():
        return False
    return clip.audio is None or wav_path(out, clip.clip_id).is_file()


def export_task(task: ExportTask) -> list[ClipOutcome]:
    """Export every clip of the task; never raises, so that one bad clip stops neither the task nor the run."""
    out = Path(task.out_dir)
    outcomes = []
    for clip in task.clips:
        try:
            export_clip(out, task.layout, clip)
            outcomes.append(ClipOutcome(clip.clip_id))
        except Exception as e:  # noqa: BLE001 - reported per clip, a rerun retries it
            outcomes.append(ClipOutcome(clip.clip_id, str(e) or type(e).__name__))
    return outcomes


def export_clip(out: Path, layout: ValorLayout, clip: ShardClip) -> None:
    """Write the clip's frames and wav through temporary names, then move them into place."""
    if clip.problem:
        raise ClipExportError(clip.problem)
    assert clip.video is not None  # a clip without video has a problem
    final_frames, final_wav = frames_path(out, layout, clip.clip_id), wav_path(out, clip.clip_id)
    tmp_frames = final_frames.with_name(temp_name(final_frames.name))
    tmp_wav = final_wav.with_name(temp_name(final_wav.name))
    try:
        tmp_frames.mkdir()
        _run_ffmpeg(_command(layout, clip, tmp_frames, tmp_wav))
        frames = len(os.listdir(tmp_frames))
        if frames == 0:
            raise ClipExportError("ffmpeg decoded no video frame")
        if frames > MAX_FRAMES:
            raise ClipExportError(f"{frames} frames: more than {MAX_FRAMES} would not sort by name; use a lower --fps")
        if clip.audio is not None:
            if tmp_wav.stat().st_size <= WAV_HEADER_BYTES:
                raise ClipExportError("ffmpeg decoded no audio sample")
            os.replace(tmp_wav, final_wav)
        if final_frames.exists():  # a clip whose wav was missing: its frames are made again
            shutil.rmtree(final_frames)
        os.replace(tmp_frames, final_frames)
    finally:
        tmp_wav.unlink(missing_ok=True)
        shutil.rmtree(tmp_frames, ignore_errors=True)


def _command(layout: ValorLayout, clip: ShardClip, frames_dir: Path, wav: Path) -> list[str]:
    """One ffmpeg run: the mp4 member to JPEG frames, the flac member (when there is one) to the wav."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", clip.video.ffmpeg_url]
    if clip.audio is not None:
        cmd += ["-i", clip.audio.ffmpeg_url]
    cmd += ["-map", "0:v:0", "-vf", layout.video_filter(), "-fps_mode", "passthrough", "-q:v", str(JPEG_QSCALE),
            "-f", "image2", str(frames_dir / FRAME_PATTERN)]
    if clip.audio is not None:
        cmd += ["-map", "1:a:0", "-ac", "1", "-ar", str(AUDIO_SAMPLE_RATE), "-c:a", "pcm_s16le", "-bitexact",
                "-f", "wav", str(wav)]
    return cmd


def _run_ffmpeg(cmd: list[str]) -> None:
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                              timeout=FFMPEG_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise ClipExportError("ffmpeg is not installed (apt-get install ffmpeg)") from None
    except subprocess.TimeoutExpired:
        raise ClipExportError(f"ffmpeg ran over {FFMPEG_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        raise ClipExportError(f"ffmpeg exited with {proc.returncode}: {lines[-1] if lines else 'no message'}")
