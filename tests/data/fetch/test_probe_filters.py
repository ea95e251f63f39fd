"""What fetch measures on each synthetic kind (through its own per-clip path: the pass, then
``read_outputs`` on the pass's thumbnails), the filter registry's verdicts, and its loud failures."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from valor_data.fetch.filters import DEFAULT_FILTERS, FILTERS, apply_filters, build_filters, thresholds_of
from valor_data.fetch.probe import ProbeFacts
from valor_data.synthetic.media import CLIP_KINDS, make_clip

SEGMENT = (0.5, 3.5)  # of a 4-s source
# kind -> status with the default filters
EXPECTED = {
    "ok": "ok", "no_audio": "no_audio", "no_video": "no_video", "silent": "silent", "frozen": "frozen",
    "black": "black", "short": "too_short", "corrupt": "decode_error",
}
FACT_NAMES = {f.name for f in fields(ProbeFacts)} - {"extra"}


def facts_of(row: dict) -> ProbeFacts:
    """The probe facts fetch recorded in a manifest row."""
    return ProbeFacts(**{k: v for k, v in json.loads(row["probe"]).items() if k in FACT_NAMES})


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return {k: make_clip(root / f"{k}.mp4", k, duration=4.0, seed=i) for i, k in enumerate(CLIP_KINDS)}


@pytest.fixture(scope="module")
def rows(kinds, spec, tmp_path_factory):
    """Each kind's manifest row with the default filters."""
    work = tmp_path_factory.mktemp("fetched")
    return {k: spec.fetch_one(path, *SEGMENT, work) for k, path in kinds.items()}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_default_filters_per_kind(rows, kind):
    assert rows[kind]["status"] == EXPECTED[kind], rows[kind]["message"]


def test_facts_of_a_good_clip(rows):
    facts = facts_of(rows["ok"])
    assert facts.has_video and facts.has_audio
    # the manifest's top-level facts are the source's
    assert (facts.width, facts.height, facts.fps, facts.vcodec, facts.acodec) == (160, 120, 25.0, "h264", "aac")
    assert (facts.sample_rate, facts.channels) == (44100, 2)
    assert facts.duration == pytest.approx(3.0, abs=0.05)
    assert facts.source_duration == pytest.approx(4.0, abs=0.05)
    assert -30 < facts.rms_db < -15  # a sine with a little noise
    assert facts.motion > 3 and facts.luma > 50 and facts.frames_sampled >= 3
    assert facts.block_motion > 8 and facts.colour_motion > 8 and facts.dark_share < 0.5


def test_measures(rows):
    assert facts_of(rows["silent"]).rms_db == -120.0
    frozen = facts_of(rows["frozen"])
    assert frozen.motion < 1.0 and frozen.block_motion < 8 and frozen.colour_motion < 8
    black = facts_of(rows["black"])
    assert black.luma < 5 and black.dark_share == 1.0
    assert facts_of(rows["short"]).duration == pytest.approx(0.5, abs=0.05)  # the 1-s source ends at 1.0
    no_video = facts_of(rows["no_video"])
    assert not no_video.has_video and no_video.frames_sampled == 0


def test_a_segment_past_the_end_is_too_short(kinds, spec, tmp_path):
    row = spec.fetch_one(kinds["ok"], 10.0, 13.0, tmp_path)
    assert row["status"] == "too_short" and facts_of(row).duration == 0.0


def test_a_clip_with_one_keyframe_still_gets_its_thumbnails(spec, tmp_path):
    path = make_clip(tmp_path / "long_gop.mp4", "ok", duration=3.0, keyint=250)
    row = spec.fetch_one(path, 0.0, 3.0, tmp_path / "work")
    facts = facts_of(row)
    assert row["status"] == "ok" and facts.frames_sampled >= 3 and facts.motion > 3


def test_corrupt_bytes_fail_with_ffmpeg_words(rows):
    assert "Invalid data found" in rows["corrupt"]["message"]


def test_thresholds_are_configurable(rows, kinds, spec, tmp_path):
    facts = facts_of(rows["ok"])
    assert apply_filters(build_filters(thresholds={"silence_db": -10.0}), facts).reason == "silent"
    assert apply_filters(build_filters(thresholds={"min_duration": 5.0}), facts).reason == "too_short"
    assert apply_filters(build_filters(thresholds={"frozen_diff": 1000.0}), facts).reason == "frozen"
    assert apply_filters(build_filters(thresholds={"black_share": facts.dark_share}), facts).reason == "black"
    row = spec.fetch_one(kinds["frozen"], *SEGMENT, tmp_path, thresholds={"frozen_diff": 0.0})
    assert row["status"] == "ok"


def test_filters_can_be_chosen_but_the_pass_needs_both_streams(kinds, spec, tmp_path):
    without_frozen = ("decodable", "has_video", "has_audio", "min_duration", "not_silent")
    assert spec.fetch_one(kinds["frozen"], *SEGMENT, tmp_path, filters=without_frozen)["status"] == "ok"
    without_audio = ("decodable", "has_video", "not_frozen")
    assert spec.fetch_one(kinds["no_audio"], *SEGMENT, tmp_path, filters=without_audio)["status"] == "no_audio"


def test_unknown_names_fail_loudly():
    with pytest.raises(ValueError, match="unknown filter.*'not_blurry'"):
        build_filters(["decodable", "not_blurry"])
    with pytest.raises(ValueError, match="silence_db"):
        build_filters(["has_video"], {"silence_db": -40.0})
    with pytest.raises(ValueError, match="silense_db"):
        build_filters(DEFAULT_FILTERS, {"silense_db": -40.0})
    with pytest.raises(ValueError, match="--black-share must be in"):
        build_filters(thresholds={"black_share": 1.5})


def test_every_filter_has_the_same_shape():
    assert set(DEFAULT_FILTERS) == set(FILTERS)
    for name, cls in FILTERS.items():
        f = cls()
        assert f.name == name
        assert f.check(ProbeFacts(has_video=True, has_audio=True, duration=10.0, rms_db=-20.0, motion=10.0,
                                  block_motion=20.0, luma=100.0, dark_share=0.1, frames_sampled=5)) is None
    assert thresholds_of(DEFAULT_FILTERS) == {"min_duration": 2.0, "silence_db": -60.0, "frozen_diff": 8.0,
                                              "black_share": 0.98}


def test_decodable_rejects_nothing_decoded():
    facts = ProbeFacts(has_video=True, has_audio=True, duration=0.0, decode_error="video: Invalid data")
    assert apply_filters(build_filters(), facts).reason == "decode_error"
