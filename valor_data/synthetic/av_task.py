"""The synthetic audiovisual task: clips whose caption names a visual factor AND an audio factor.

It is the sanity check that a model really uses both modalities (the VALOR paper's Fig. 6 in miniature).
Each clip shows a coloured shape moving over a plain background, a fading trail behind it so that a
single frame shows the direction (colour x shape x motion = 48 visual combinations), while a tone sounds
(pitch x rhythm = 15 audio combinations); the caption names both, e.g.
"a red square moves left while a low beep repeats fast". The sound is named by its AudioSet concept
word as it stands ("beep", "hum"), so the captions' audio concept density (ACD, whole words as in the
paper) is that of real captions, not 0. The test set holds clips with *distinct*
(visual, audio) combinations, so a text query has exactly one right clip: from the video alone a model
can only tell apart clips with different visual factors: among the test clips sharing a visual
combination it picks one at random, so even a perfect video-only model expects text-to-video R@1 =
(distinct visual combinations) / 200 ~ 24 %; audio alone expects 15 / 200 = 7.5 %; audio + video can
reach 100 %.

Nuisance factors (background grey level, shape size, start position, speed, tone detune, beep phase,
noise level) vary per clip, so the factors must be recognised, not memorised. Clips are drawn with
ffmpeg ``lavfi`` sources (``color`` + ``geq`` alpha mask + ``overlay`` with time expressions for the
video, one more ``overlay`` per trail copy, ``aevalsrc`` plus ``anoisesrc`` for the audio) and written as
*source videos* (H.264 + AAC in one mp4) for ``valor-data fetch --source local``; the captions go to
VALOR-format JSON files.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from valor_data.progress import progress_bar

COLOURS: dict[str, str] = {
    "red": "0xE02828", "green": "0x28C828", "blue": "0x4068FF",
    "yellow": "0xE8E030", "white": "0xF0F0F0", "purple": "0xB030E0",
}
SHAPES = ("square", "cross")
MOTIONS = ("left", "right", "up", "down")
PITCHES: dict[str, float] = {"deep": 160.0, "low": 300.0, "middle": 560.0, "high": 1050.0, "shrill": 2000.0}
RHYTHMS: dict[str, tuple[str, float]] = {  # name -> (caption phrase, beeps per second; 0 = continuous)
    "slow": ("beep repeats slowly", 1.5),
    "fast": ("beep repeats fast", 5.0),
    "steady": ("hum sounds steadily", 0.0),
}
VISUAL_COMBOS = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]
AUDIO_COMBOS = [(p, r) for p in PITCHES for r in RHYTHMS]


class SyntheticAVError(RuntimeError):
    """ffmpeg could not render a clip; the message names the clip and ffmpeg's error."""


@dataclass(frozen=True)
class AVClipSpec:
    """One clip: its factors (named in the caption) and its nuisance parameters (not named)."""

    ytid: str
    colour: str
    shape: str
    motion: str
    pitch: str
    rhythm: str
    background: int  # grey level 0..255
    size: float  # shape size as a fraction of the frame side
    start: float  # start position along the motion axis, fraction of the free range
    cross: float  # position on the other axis, fraction of the free range
    speed: float  # fraction of the free range travelled over the clip
    detune: float  # pitch multiplier
    phase: float  # beep phase in periods
    noise: float  # pink-noise amplitude

    @property
    def visual(self) -> tuple[str, str, str]:
        return (self.colour, self.shape, self.motion)

    @property
    def audio(self) -> tuple[str, str]:
        return (self.pitch, self.rhythm)

    @property
    def caption(self) -> str:
        return caption_for(self.colour, self.shape, self.motion, self.pitch, self.rhythm)


def caption_for(colour: str, shape: str, motion: str, pitch: str, rhythm: str) -> str:
    return f"a {colour} {shape} moves {motion} while a {pitch} {RHYTHMS[rhythm][0]}"


def _spec(ytid: str, visual: tuple[str, str, str], audio: tuple[str, str], rng: random.Random) -> AVClipSpec:
    return AVClipSpec(
        ytid=ytid, colour=visual[0], shape=visual[1], motion=visual[2], pitch=audio[0], rhythm=audio[1],
        background=rng.randint(24, 48), size=rng.uniform(0.30, 0.40), start=rng.uniform(0.25, 0.3),
        cross=rng.uniform(0.1, 0.9), speed=rng.uniform(0.55, 0.7), detune=rng.uniform(0.96, 1.04),
        phase=rng.random(), noise=rng.uniform(0.01, 0.04),
    )


def plan(n_train: int = 2000, n_test: int = 200, seed: int = 0) -> tuple[list[AVClipSpec], list[AVClipSpec]]:
    """Train clips with combinations drawn uniformly (with replacement) from all 720; test clips with
    ``n_test`` distinct combinations. YouTube-id-shaped ids: ``savt`` / ``save`` + 7 digits."""
    combos = [(v, a) for v in VISUAL_COMBOS for a in AUDIO_COMBOS]
    if n_test > len(combos):
        raise ValueError(f"n_test={n_test} exceeds the {len(combos)} distinct combinations")
    rng = random.Random(seed)
    test = [_spec(f"save{i:07d}", v, a, rng) for i, (v, a) in enumerate(rng.sample(combos, n_test))]
    train = [_spec(f"savt{i:07d}", *rng.choice(combos), rng) for i in range(n_train)]
    return train, test


# The motion trail: fading copies of the shape behind it, (offset in shape sizes, opacity), so each frame
# on its own shows the direction (frames are encoded one by one, as in VALOR's vision encoder).
TRAIL = ((0.5, 0.7), (1.0, 0.45), (1.5, 0.25), (2.0, 0.1))


def _alpha_mask(shape: str, size: int) -> str:
    """geq alpha expression of ``shape`` in a ``size`` x ``size`` box: a filled square, or a plus-shaped
    cross with arms a third of the side wide. Unlike a circle, the cross differs from the square in whole
    16-px patches of the 64-px frames: a cross-entropy probe of the tiny ViT tells cross from square
    (87 % at 150 steps) long before circle from square (~60 % at 300 steps), and a shape learned late
    loses the race against the audio for the caption's shape word (docs/guide/model.md)."""
    if shape == "square":
        return "255"
    if shape == "cross":
        c, half = (size - 1) / 2, size / 6  # centre, half the arm width
        return f"255*gt(lt(abs(X-{c:.2f})\\,{half:.2f})+lt(abs(Y-{c:.2f})\\,{half:.2f})\\,0)"
    raise ValueError(f"unknown shape {shape!r}: expected one of {SHAPES}")


def _video_filter(spec: AVClipSpec, side: int, fps: int, duration: float) -> str:
    size = max(4, round(spec.size * side))
    free = side - size
    a0 = spec.start * free  # along the motion axis, from the side the shape leaves
    travel = spec.speed * free
    cross = spec.cross * free

    def at(behind: float) -> tuple[str, str]:
        """overlay x/y expressions of a copy ``behind`` pixels behind the shape along its motion"""
        fwd = f"{a0:.2f}+{travel:.2f}*t/{duration}-{behind:.2f}"
        back = f"{free - a0:.2f}-{travel:.2f}*t/{duration}+{behind:.2f}"
        return {"right": (fwd, f"{cross:.2f}"), "left": (back, f"{cross:.2f}"),
                "down": (f"{cross:.2f}", fwd), "up": (f"{cross:.2f}", back)}[spec.motion]

    alpha = _alpha_mask(spec.shape, size)
    bg = f"0x{spec.background:02X}{spec.background:02X}{spec.background:02X}"
    n = len(TRAIL)
    graph = [
        f"color=c={bg}:s={side}x{side}:r={fps}:d={duration}[l{n}]",
        f"color=c={COLOURS[spec.colour]}:s={size}x{size}:r={fps}:d={duration},format=rgba,"
        f"geq=r='r(X\\,Y)':g='g(X\\,Y)':b='b(X\\,Y)':a='{alpha}',split={n + 1}"
        + "".join(f"[s{i}]" for i in range(n + 1)),
    ]
    # ghosts first (oldest at the bottom), then the shape itself on top
    for i in range(n, 0, -1):
        behind, opacity = TRAIL[i - 1]
        x, y = at(behind * size)
        graph.append(f"[s{i}]colorchannelmixer=aa={opacity}[g{i}]")
        graph.append(f"[l{i}][g{i}]overlay=x='{x}':y='{y}':shortest=1[l{i - 1}]")
    x, y = at(0.0)
    graph.append(f"[l0][s0]overlay=x='{x}':y='{y}':shortest=1,format=yuv420p[v]")
    return ";".join(graph)


def _audio_filter(spec: AVClipSpec, rate: int, duration: float) -> str:
    freq = PITCHES[spec.pitch] * spec.detune
    bps = RHYTHMS[spec.rhythm][1]
    gate = f"*lt(mod(t*{bps}+{spec.phase:.3f}\\,1)\\,0.5)" if bps else ""
    return (
        f"aevalsrc='0.4*sin(2*PI*{freq:.2f}*t){gate}':s={rate}:d={duration}[tone];"
        f"anoisesrc=color=pink:amplitude={spec.noise:.3f}:sample_rate={rate}:duration={duration}"
        f":seed={int(spec.ytid[4:])}[noise];"
        f"[tone][noise]amix=inputs=2:normalize=0[a]"
    )


def render_clip(spec: AVClipSpec, path: str | os.PathLike, side: int = 96, fps: int = 10,
                duration: float = 2.0, sample_rate: int = 16000, audio_path: str | os.PathLike | None = None) -> Path:
    """Render one clip: an mp4 with H.264 video and AAC audio, or (``audio_path`` given) a video-only
    mp4 plus a FLAC file — the shard layout, for tests that skip the pipeline. Returns the mp4 path."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = _video_filter(spec, side, fps, duration) + ";" + _audio_filter(spec, sample_rate, duration)
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-filter_complex", graph]
    video = ["-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps), "-pix_fmt", "yuv420p",
             "-t", f"{duration:.3f}", "-movflags", "+faststart"]
    if audio_path is None:
        args += [*video, "-map", "[a]", "-c:a", "aac", "-b:a", "64k", "-f", "mp4", str(path)]
    else:
        args += [*video, "-an", "-f", "mp4", str(path),
                 "-map", "[a]", "-ac", "1", "-ar", "16000", "-c:a", "flac", "-t", f"{duration:.3f}",
                 "-f", "flac", str(Path(audio_path).resolve())]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SyntheticAVError("ffmpeg not found on PATH: install ffmpeg to render synthetic clips") from None
    if proc.returncode != 0:
        raise SyntheticAVError(f"{spec.ytid}: ffmpeg failed: {proc.stderr.strip()[-400:]}")
    return path


def clip_id(spec: AVClipSpec, duration: float) -> str:
    return f"{spec.ytid}_0.000_{duration:.3f}"


def annotations(specs: Sequence[AVClipSpec], duration: float) -> list[dict]:
    """VALOR-format annotations: ``[{"video_id": clip id, "desc": caption}]``."""
    return [{"video_id": clip_id(s, duration), "desc": s.caption} for s in specs]


def generate(out_dir: str | os.PathLike, n_train: int = 2000, n_test: int = 200, seed: int = 0,
             side: int = 96, fps: int = 10, duration: float = 2.0, workers: int = 2,
             progress: bool = True) -> dict[str, Path]:
    """Write the task's inputs to ``out_dir``: ``videos/{ytid}.mp4`` (source videos for
    ``valor-data fetch --source local``), ``desc_{train,test}.json`` (captions), ``ids_{train,test}.txt``
    (clip ids, the fetch input) and ``factors.json`` (every clip's factors and nuisances). Existing
    videos are kept, so an interrupted run resumes. Returns the paths by name."""
    out = Path(out_dir)
    videos = out / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    train, test = plan(n_train, n_test, seed)
    todo = [s for s in train + test if not (videos / f"{s.ytid}.mp4").is_file()]

    def work(spec: AVClipSpec) -> None:
        tmp = videos / f"{spec.ytid}.tmp.mp4"
        render_clip(spec, tmp, side=side, fps=fps, duration=duration)
        os.replace(tmp, videos / f"{spec.ytid}.mp4")

    with ThreadPoolExecutor(max(1, workers)) as pool:
        with progress_bar(total=len(todo), desc="render", unit="clip", disable=not progress or not todo) as bar:
            for _ in pool.map(work, todo):
                bar.update(1)
    paths = {"videos": videos}
    for name, specs in (("train", train), ("test", test)):
        paths[f"desc_{name}"] = out / f"desc_{name}.json"
        paths[f"desc_{name}"].write_text(json.dumps(annotations(specs, duration), indent=1))
        paths[f"ids_{name}"] = out / f"ids_{name}.txt"
        paths[f"ids_{name}"].write_text("".join(clip_id(s, duration) + "\n" for s in specs))
    paths["factors"] = out / "factors.json"
    paths["factors"].write_text(json.dumps(
        {"seed": seed, "side": side, "fps": fps, "duration": duration,
         "train": [asdict(s) for s in train], "test": [asdict(s) for s in test]}, indent=0))
    return paths


def modality_ceilings(test: Sequence[AVClipSpec]) -> dict[str, float]:
    """Expected text-to-video R@1 (%) of a *perfect* model that sees one modality only: it cannot tell apart
    the clips sharing the factors it sees, so it ranks one of each such group first at random (expected
    groups / clips; a real run can land a little above by chance)."""
    n = len(test)
    return {
        "av": 100.0 * len({(s.visual, s.audio) for s in test}) / n,
        "v": 100.0 * len({s.visual for s in test}) / n,
        "a": 100.0 * len({s.audio for s in test}) / n,
    }
