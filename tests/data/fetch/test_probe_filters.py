"""Probe facts of each synthetic kind, and the filter registry's verdicts and loud failures."""

from __future__ import annotations

import json

import pytest

from valor_data.fetch.filters import DEFAULT_FILTERS, FILTERS, apply_filters, build_filters, thresholds_of
from valor_data.fetch.probe import ProbeError, ProbeFacts, probe_media
from valor_data.synthetic.media import CLIP_KINDS, make_clip

# kind -> status with the default filters, on the 0.5-3.5 s segment of a 4-s source
EXPECTED = {
    "ok": None, "no_audio": "no_audio", "no_video": "no_video", "silent": "silent", "frozen": "frozen",
    "black": "frozen", "short": "too_short",
}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return {k: make_clip(root / f"{k}.mp4", k, duration=4.0, seed=i) for i, k in enumerate(CLIP_KINDS)}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_default_filters_per_kind(kinds, kind):
    facts = probe_media(kinds[kind], 0.5, 3.5)
    rejection = apply_filters(build_filters(), facts)
    assert (rejection.reason if rejection else None) == EXPECTED[kind], rejection
    json.dumps(facts.to_dict())  # the manifest stores it as JSON


def test_probe_facts_of_a_good_clip(kinds):
    facts = probe_media(kinds["ok"], 0.5, 3.5)
    assert facts.has_video and facts.has_audio
    assert (facts.width, facts.height, facts.fps, facts.vcodec, facts.acodec) == (160, 120, 25.0, "h264", "aac")
    assert (facts.sample_rate, facts.channels) == (44100, 2)
    assert facts.duration == pytest.approx(3.0, abs=0.05)
    assert facts.source_duration == pytest.approx(4.0, abs=0.05)
    assert -30 < facts.rms_db < -15  # a sine with a little noise
    assert facts.motion > 3 and facts.luma > 50 and facts.frames_sampled >= 3
    assert facts.block_motion > 8 and facts.dark_share < 0.5


def test_probe_measures(kinds):
    assert probe_media(kinds["silent"]).rms_db == -120.0
    frozen = probe_media(kinds["frozen"])
    assert frozen.motion < 1.0 and frozen.block_motion < 8
    black = probe_media(kinds["black"])
    assert black.luma < 5 and black.dark_share == 1.0
    assert probe_media(kinds["short"]).duration == pytest.approx(1.0, abs=0.05)
    no_video = probe_media(kinds["no_video"])
    assert not no_video.has_video and no_video.frames_sampled == 0


def test_probe_of_a_segment_past_the_end(kinds):
    facts = probe_media(kinds["ok"], 10.0, 13.0)
    assert facts.duration == 0.0
    assert apply_filters(build_filters(), facts).reason == "too_short"


def test_probe_with_few_keyframes_decodes_every_frame(tmp_path):
    path = make_clip(tmp_path / "long_gop.mp4", "ok", duration=3.0, keyint=250)  # one keyframe
    facts = probe_media(path)
    assert facts.frames_sampled >= 3 and facts.motion > 3


def test_corrupt_bytes_raise_with_ffmpeg_words(kinds):
    with pytest.raises(ProbeError, match="Invalid data found"):
        probe_media(kinds["corrupt"])


def test_thresholds_are_configurable(kinds):
    facts = probe_media(kinds["ok"], 0.5, 3.5)
    assert apply_filters(build_filters(thresholds={"silence_db": -10.0}), facts).reason == "silent"
    assert apply_filters(build_filters(thresholds={"min_duration": 5.0}), facts).reason == "too_short"
    assert apply_filters(build_filters(thresholds={"frozen_diff": 1000.0}), facts).reason == "frozen"
    assert apply_filters(build_filters(thresholds={"black_share": facts.dark_share}), facts).reason == "frozen"
    frozen = probe_media(kinds["frozen"])
    assert apply_filters(build_filters(thresholds={"frozen_diff": 0.0}), frozen) is None


def test_filters_can_be_chosen(kinds):
    facts = probe_media(kinds["no_audio"])
    assert apply_filters(build_filters(["decodable", "has_video", "not_frozen"]), facts) is None


def test_unknown_names_fail_loudly():
    with pytest.raises(ValueError, match="unknown filter.*'not_blurry'"):
        build_filters(["decodable", "not_blurry"])
    with pytest.raises(ValueError, match="silence_db"):
        build_filters(["has_video"], {"silence_db": -40.0})
    with pytest.raises(ValueError, match="silense_db"):
        build_filters(DEFAULT_FILTERS, {"silense_db": -40.0})


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
