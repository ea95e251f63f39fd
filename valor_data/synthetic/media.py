"""Synthetic source clips made with ffmpeg's ``lavfi`` sources, for tests, benchmarks and the demo.

YouTube is unreachable offline, so every pipeline test fetches clips like these from a local mirror or
directory. Good clips move (``testsrc2``) and are audible (a sine over a little noise); the broken kinds
are the ways real AudioSet videos fail the filters: no audio, no video, silent audio, a still image, a
black screen, too short, or bytes that are not media at all. The ``moov`` atom is written at the front
(``+faststart``) so that a ranged HTTP reader can seek without fetching the whole file.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

CLIP_KINDS: dict[str, str] = {
    "ok": "moving test pattern with an audible tone",
    "no_audio": "video stream only",
    "no_video": "audio stream only",
    "silent": "video with a digitally silent audio track",
    "frozen": "one still image repeated, with audible audio",
    "black": "black frames, with audible audio",
    "short": "a good clip of 1 second",
    "corrupt": "random bytes that are not a media file",
}


class SyntheticError(RuntimeError):
    """ffmpeg could not make a synthetic clip (ffmpeg missing or too old)."""


def _video_source(kind: str, size: str, fps: int, duration: float, seed: int) -> str:
    if kind == "black":
        return f"color=c=black:size={size}:rate={fps}:duration={duration}"
    if kind == "frozen":
        # The first frame of the pattern, looped: a still image with plenty of detail.
        return (
            f"testsrc2=size={size}:rate={fps},trim=end_frame=1,loop=loop=-1:size=1:start=0,"
            f"setpts=N/{fps}/TB,trim=duration={duration}"
        )
    # Alternate the two moving patterns so that neighbouring clips differ.
    pattern = "testsrc2" if seed % 2 == 0 else "testsrc"
    return f"{pattern}=size={size}:rate={fps}:duration={duration}"


def _audio_source(kind: str, duration: float, sample_rate: int, seed: int) -> str:
    if kind == "silent":
        return f"anullsrc=channel_layout=stereo:sample_rate={sample_rate},atrim=duration={duration}"
    freq = 220 + 110 * (seed % 7)
    return (
        f"sine=frequency={freq}:sample_rate={sample_rate}:duration={duration}[s];"
        f"anoisesrc=color=pink:amplitude=0.05:sample_rate={sample_rate}:duration={duration}:seed={seed + 1}[n];"
        f"[s][n]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo"
    )


def make_clip(
    path: str | os.PathLike,
    kind: str = "ok",
    duration: float = 3.0,
    size: tuple[int, int] = (160, 120),
    fps: int = 25,
    sample_rate: int = 44100,
    seed: int = 0,
    keyint: int | None = None,
    noise: int = 0,
) -> Path:
    """Write one synthetic clip of ``kind`` (see :data:`CLIP_KINDS`) to ``path`` (mp4, H.264 + AAC).

    ``keyint`` is the keyframe interval in frames (default: one per second, so segment cuts are close to
    what is asked). ``seed`` varies the pattern, the tone and the noise. ``noise`` (0-100) adds temporal
    pixel noise, which makes files large (realistic bitrates, for testing ranged reads). Returns the path.
    """
    if kind not in CLIP_KINDS:
        raise ValueError(f"unknown clip kind {kind!r}: choose one of {', '.join(CLIP_KINDS)}")
    path = Path(path).resolve()  # absolute: a name starting with '-' is never read as an option
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "corrupt":
        rng = random.Random(seed)
        path.write_bytes(bytes(rng.getrandbits(8) for _ in range(max(4096, int(duration * 8000)))))
        return path
    if kind == "short":
        kind, duration = "ok", 1.0
    w, h = size
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    filters = []
    maps = []
    if kind != "no_video":
        grain = f",noise=alls={noise}:allf=t" if noise else ""
        filters.append(f"{_video_source(kind, f'{w}x{h}', fps, duration, seed)}{grain}[v]")
        maps += ["-map", "[v]"]
    if kind != "no_audio":
        filters.append(f"{_audio_source(kind, duration, sample_rate, seed)}[a]")
        maps += ["-map", "[a]"]
    args += ["-filter_complex", ";".join(filters), *maps]
    if kind != "no_video":
        gop = keyint or fps
        args += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(gop),
                 "-keyint_min", str(gop)]
    if kind != "no_audio":
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += ["-t", f"{duration:.3f}", "-movflags", "+faststart", "-f", "mp4", str(path)]
    run_ffmpeg(args, f"a {kind!r} clip")
    return path


def run_ffmpeg(args: list[str], what: str, stdin: bytes | None = None) -> None:
    """Run an ffmpeg command that makes synthetic media; :class:`SyntheticError` says why it could not."""
    try:
        proc = subprocess.run(args, input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise SyntheticError("ffmpeg not found on PATH: install ffmpeg to make synthetic media") from None
    if proc.returncode != 0:
        raise SyntheticError(f"ffmpeg failed to make {what}: {proc.stderr.decode(errors='replace').strip()[-500:]}")

