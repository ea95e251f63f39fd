"""The synthetic audiovisual task generator: factor coverage, distinct test combinations, rendered media."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

import numpy as np

from valor_data.synthetic.av_task import (
    AUDIO_COMBOS,
    VISUAL_COMBOS,
    generate,
    modality_ceilings,
    plan,
    render_clip,
)


def test_factor_grid_and_distinct_test_combinations():
    assert len(VISUAL_COMBOS) >= 40 and len(AUDIO_COMBOS) >= 15
    train, test = plan(n_train=2000, n_test=200, seed=0)
    assert len(train) == 2000 and len(test) == 200
    assert len({(s.visual, s.audio) for s in test}) == 200
    ids = [s.ytid for s in train + test]
    assert len(set(ids)) == len(ids) and all(len(i) == 11 for i in ids)
    assert train[0].caption.startswith(f"a {train[0].colour} {train[0].shape} moves {train[0].motion} while a ")
    ceil = modality_ceilings(test)
    assert ceil["av"] == 100.0 and ceil["v"] <= 24.0 and ceil["a"] == 7.5
    assert plan(50, 10, seed=1) == plan(50, 10, seed=1)


def _streams(path) -> list[dict]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration,sample_rate",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"]


def test_generate_writes_source_videos_and_valor_annotations(tmp_path):
    paths = generate(tmp_path, n_train=2, n_test=1, side=48, fps=5, duration=1.0, progress=False)
    videos = sorted(p.name for p in paths["videos"].iterdir())
    assert videos == ["save0000000.mp4", "savt0000000.mp4", "savt0000001.mp4"]
    streams = _streams(paths["videos"] / "save0000000.mp4")
    assert sorted(s["codec_type"] for s in streams) == ["audio", "video"]
    desc = json.loads(paths["desc_test"].read_text())
    assert desc[0]["video_id"] == "save0000000_0.000_1.000"
    assert re.fullmatch(r"a \w+ \w+ moves \w+ while a \w+ (beep repeats (slowly|fast)|hum sounds steadily)",
                        desc[0]["desc"]), desc[0]["desc"]
    assert paths["ids_train"].read_text().split() == ["savt0000000_0.000_1.000", "savt0000001_0.000_1.000"]


def test_render_shard_layout_video_only_plus_flac(tmp_path):
    _, test = plan(0, 1, seed=2)
    render_clip(test[0], tmp_path / "v.mp4", side=48, fps=5, duration=1.0, audio_path=tmp_path / "a.flac")
    assert [s["codec_type"] for s in _streams(tmp_path / "v.mp4")] == ["video"]
    audio = _streams(tmp_path / "a.flac")
    assert audio[0]["codec_type"] == "audio" and audio[0]["sample_rate"] == "16000"


def _frame_at(path, side: int, second: float):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(second), "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(side, side, 3).astype(int)


def _red_channel_at_1s(tmp_path, shape: str, motion: str, side: int = 96):
    """Render a red ``shape`` moving ``motion`` across the middle of a dark grey frame; the red channel of
    its frame at 1 s."""
    _, test = plan(0, 1, seed=0)
    spec = replace(test[0], colour="red", shape=shape, motion=motion, background=32, cross=0.5)
    path = render_clip(spec, tmp_path / f"{shape}-{motion}.mp4", side=side, fps=10, duration=2.0)
    return _frame_at(path, side, 1.0)[..., 0]


def test_each_frame_shows_the_motion_direction_by_a_fading_trail(tmp_path):
    """Frames are encoded one by one, so the direction must be visible in a single frame: the trail
    (dimmer copies of the shape) lies on the side the shape comes from, never ahead of it."""
    for motion in ("right", "left", "down", "up"):
        red = _red_channel_at_1s(tmp_path, "square", motion)
        profile = red.max(axis=0) if motion in ("right", "left") else red.max(axis=1)  # along the motion
        if motion in ("left", "up"):
            profile = profile[::-1]  # now the shape moves towards higher indices
        solid = [i for i, v in enumerate(profile) if v > 180]
        assert solid, f"{motion}: no solid shape in the frame"
        # 3 px of soft edge around the shape: chroma subsampling of yuv420p
        behind, ahead = profile[: max(0, solid[0] - 3)], profile[solid[-1] + 4 :]
        assert (behind[-8:] > 60).all() and (behind[-8:] < 180).all(), f"{motion}: no trail behind: {behind}"
        assert (ahead < 60).all(), f"{motion}: something ahead of the shape: {ahead}"


def test_the_cross_differs_from_the_square_in_its_corners(tmp_path):
    """The two shapes must differ in whole patches of the 64-px frames the tiny ViT sees, not in a few
    edge pixels: the cross leaves the corners of its box empty, the square fills them."""
    corners = {}
    for shape in ("square", "cross"):
        red = _red_channel_at_1s(tmp_path, shape, "right")
        rows, cols = (red > 180).nonzero()
        top, bottom, right = rows.min(), rows.max(), cols.max()
        quarter = (bottom - top) // 4
        # the corners on the leading side (the trail lies behind, on the left)
        corners[shape] = [red[top : top + quarter, right - quarter : right].mean(),
                          red[bottom - quarter : bottom, right - quarter : right].mean()]
    assert min(corners["square"]) > 180, corners
    assert max(corners["cross"]) < 60, corners
