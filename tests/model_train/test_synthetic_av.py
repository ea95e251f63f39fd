"""The synthetic audiovisual task generator: factor coverage, distinct test combinations, rendered media."""

from __future__ import annotations

import json
import subprocess

from valor_data.synthetic_av import (
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
    assert desc[0]["video_id"] == "save0000000_0.000_1.000" and " tone " in desc[0]["desc"]
    assert paths["ids_train"].read_text().split() == ["savt0000000_0.000_1.000", "savt0000001_0.000_1.000"]


def test_render_shard_layout_video_only_plus_flac(tmp_path):
    _, test = plan(0, 1, seed=2)
    render_clip(test[0], tmp_path / "v.mp4", side=48, fps=5, duration=1.0, audio_path=tmp_path / "a.flac")
    assert [s["codec_type"] for s in _streams(tmp_path / "v.mp4")] == ["video"]
    audio = _streams(tmp_path / "a.flac")
    assert audio[0]["codec_type"] == "audio" and audio[0]["sample_rate"] == "16000"
