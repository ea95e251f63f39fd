"""The demo's AudioSet-like input: a segment CSV, captions and source videos to serve from a mirror.

Good clips come from the synthetic audiovisual task (a coloured shape moving while a tone sounds; the
caption names both), labelled with real AudioSet classes of the shipped ontology. A few clips are made to
fail, one per failure reason the pipeline can meet offline, so the manifest shows every path.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from valor_data.clip import ClipRef
from valor_data.ontology import load_ontology
from valor_data.synthetic.av_task import AVClipSpec, plan, render_clip
from valor_data.synthetic.media import make_clip
from valor_data.synthetic.mirror import Fault

SOURCE_SECONDS = 4.0  # length of each source video on the mirror
SEGMENT = (0.5, 3.5)  # the AudioSet-style segment cut from it

# AudioSet classes that describe the synthetic sounds (mids of the shipped ontology).
SINE_WAVE, BEEP, HUM, PINK_NOISE = "/m/01v_m0", "/m/02fs_r", "/m/07rcgpl", "/m/0cj0r"

# Clips that must fail, with the status the manifest must give them. The ytids are 11-char ids like
# YouTube's (one starts with '-', which must never be read as an option).
FAILING: dict[str, tuple[str, str]] = {  # ytid -> (synthetic kind, or "absent", expected status)
    "demoNoAudio": ("no_audio", "no_audio"),
    "demoNoVideo": ("no_video", "no_video"),
    "demoSilent0": ("silent", "silent"),
    "demoFrozen0": ("frozen", "frozen"),
    "-demoBlack0": ("black", "black"),
    "demoTooShrt": ("short", "too_short"),
    "demoCorrupt": ("corrupt", "decode_error"),
    "demoMissing": ("absent", "unavailable"),  # not on the mirror: HTTP 404
}
THROTTLED = "demoThrottl"  # served 429 once, then fine: retried and kept
INVALID_ROW = ("not-a-youtube-id", "1.000", "2.000")  # recorded as invalid_id with its line number


@dataclass
class DemoInputs:
    segments_csv: Path
    captions_json: Path
    videos: Path
    faults: dict[str, Fault]
    expected: dict[str, str]  # clip id -> status the manifest must show
    invalid_rows: int  # input rows that are not clips (manifest status invalid_id)


def labels_for(spec: AVClipSpec) -> list[str]:
    """Real AudioSet labels for a synthetic clip: a sine tone over pink noise, beeping or humming."""
    return [SINE_WAVE, HUM if spec.rhythm == "steady" else BEEP, PINK_NOISE]


def build(out: str | os.PathLike, n_clips: int = 120, seed: int = 0, workers: int = 2,
          progress: Callable[[int], None] | None = None) -> DemoInputs:
    """Write the demo's inputs under ``out``; existing source videos are kept (a rerun is quick)."""
    out = Path(out)
    videos = out / "mirror"
    videos.mkdir(parents=True, exist_ok=True)
    onto = load_ontology()
    missing = [m for m in (SINE_WAVE, BEEP, HUM, PINK_NOISE) if m not in onto]
    if missing:
        raise RuntimeError(f"the shipped ontology lacks the demo's labels {missing}: is annotations/ intact?")
    train, test = plan(n_train=max(0, n_clips - n_clips // 5), n_test=n_clips // 5, seed=seed)
    specs = train + test
    random.Random(seed).shuffle(specs)

    def render(spec: AVClipSpec) -> None:
        target = videos / f"{spec.ytid}.mp4"
        if not target.is_file():
            tmp = videos / f"{spec.ytid}.tmp.mp4"
            render_clip(spec, tmp, side=96, fps=10, duration=SOURCE_SECONDS)
            os.replace(tmp, target)
        if progress:
            progress(1)

    def render_failing(item: tuple[str, tuple[str, str]]) -> None:
        ytid, (kind, _) = item
        target = videos / f"{ytid}.mp4"
        if kind != "absent" and not target.is_file():
            make_clip(target, kind=kind, duration=SOURCE_SECONDS, size=(128, 96), fps=10, seed=len(ytid))
        if progress:
            progress(1)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(render, specs))
        list(pool.map(render_failing, FAILING.items()))
    throttled = ClipRef.from_seconds(THROTTLED, *SEGMENT)
    if not (videos / f"{THROTTLED}.mp4").is_file():
        make_clip(videos / f"{THROTTLED}.mp4", kind="ok", duration=SOURCE_SECONDS, size=(128, 96), fps=10)

    rows, captions, expected = [], [], {}
    for spec in specs:
        clip = ClipRef.from_seconds(spec.ytid, *SEGMENT)
        rows.append((clip.ytid, f"{clip.start:.3f}", f"{clip.end:.3f}", ",".join(labels_for(spec))))
        captions.append({"video_id": clip.clip_id, "desc": spec.caption})
        expected[clip.clip_id] = "ok"
    for ytid, (_, status) in FAILING.items():
        clip = ClipRef.from_seconds(ytid, *SEGMENT)
        rows.append((clip.ytid, f"{clip.start:.3f}", f"{clip.end:.3f}", SINE_WAVE))
        expected[clip.clip_id] = status
    rows.append((throttled.ytid, f"{throttled.start:.3f}", f"{throttled.end:.3f}", SINE_WAVE))
    captions.append({"video_id": throttled.clip_id, "desc": "a test pattern scrolls while a sine wave sounds"})
    expected[throttled.clip_id] = "ok"
    rows.append((*INVALID_ROW, SINE_WAVE))

    segments_csv = out / "demo_segments.csv"
    with segments_csv.open("w", newline="") as f:
        f.write("# Segments csv created by valor-data demo (synthetic clips, real AudioSet labels)\n")
        f.write(f"# num_ytids={len(rows)}, num_segs={len(rows)}\n")
        f.write("# YTID, start_seconds, end_seconds, positive_labels\n")
        writer = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        for ytid, start, end, labels in rows:
            f.write(f"{ytid}, {start}, {end}, ")
            writer.writerow([labels])
    captions_json = out / "demo_captions.json"
    captions_json.write_text(json.dumps(captions, indent=1))
    faults = {f"{THROTTLED}.mp4": Fault("429", times=1)}
    return DemoInputs(segments_csv, captions_json, videos, faults, expected, invalid_rows=1)
