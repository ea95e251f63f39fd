"""The clip id / sample key contract: round trips, ids starting with '-', and rejection of bad input."""

import json
import string

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from valor_data.clip import (
    MANIFEST_SCHEMA,
    OK,
    REASONS,
    STATUSES,
    TRANSIENT_REASONS,
    ClipRef,
    InvalidClip,
    Status,
    key_to_clip_id,
)

YT_ALPHABET = string.ascii_letters + string.digits + "_-"
ytids = st.text(YT_ALPHABET, min_size=11, max_size=11)
segments = st.tuples(st.integers(0, 10**8), st.integers(1, 10**6)).map(lambda t: (t[0], t[0] + t[1]))


@given(ytids, segments)
def test_clip_id_key_round_trip(ytid, seg):
    clip = ClipRef(ytid, *seg)
    assert "." not in clip.key
    assert ClipRef.from_clip_id(clip.clip_id) == clip
    assert ClipRef.from_key(clip.key) == clip
    assert key_to_clip_id(ClipRef.from_clip_id(clip.clip_id).key) == clip.clip_id
    assert ClipRef.from_clip_id(key_to_clip_id(clip.key)).key == clip.key


@given(st.text(YT_ALPHABET, min_size=10, max_size=10), segments)
def test_ids_starting_with_dash(rest, seg):
    clip = ClipRef("-" + rest, *seg)
    assert ClipRef.from_clip_id(clip.clip_id).ytid == "-" + rest


def test_known_examples():
    clip = ClipRef.from_clip_id("x-2Abohj8VY_30.000_40.000")
    assert (clip.ytid, clip.start, clip.end, clip.key) == ("x-2Abohj8VY", 30.0, 40.0, "x-2Abohj8VY_30000_40000")
    assert ClipRef.from_clip_id("Agi5ySKb1tY_23.700_33.700").clip_id == "Agi5ySKb1tY_23.700_33.700"
    assert ClipRef.from_clip_id("a_b_c_d_e_f_1.5_2").ytid == "a_b_c_d_e_f"
    assert ClipRef.from_seconds("--PJHxphWEs", "30.000", " 40.000").clip_id == "--PJHxphWEs_30.000_40.000"


@given(st.text(max_size=30))
def test_arbitrary_text_is_rejected_or_round_trips(text):
    try:
        clip = ClipRef.from_clip_id(text)
    except InvalidClip:
        return
    assert len(clip.ytid) == 11 and 0 <= clip.start_ms < clip.end_ms


@given(st.text(YT_ALPHABET, max_size=20).filter(lambda s: len(s) != 11), segments)
def test_wrong_length_ids_rejected(ytid, seg):
    with pytest.raises(InvalidClip, match="invalid YouTube id"):
        ClipRef(ytid, *seg)


@pytest.mark.parametrize(
    "bad",
    [
        "abcdefghijk_10.000_10.000",  # start == end
        "abcdefghijk_20.000_10.000",  # start > end
        "abcdefghijk_-1.000_10.000",  # negative
        "abcdefghijk_nan_10.000",
        "abcdefghijk_1e3_2e3",
        "abcdefghij!_0.000_10.000",  # bad character
        "abcdefghijk_10.000",  # missing end
        "abcdefghijk",
        "",
    ],
)
def test_bad_clip_ids_rejected(bad):
    with pytest.raises(InvalidClip):
        ClipRef.from_clip_id(bad)


def test_bad_keys_rejected():
    with pytest.raises(InvalidClip):
        ClipRef.from_key("abcdefghijk_1.5_2")  # keys never have dots
    with pytest.raises(InvalidClip):
        ClipRef.from_seconds("abcdefghijk", float("inf"), 10)


def test_statuses_are_a_closed_enum_stored_as_text():
    assert set(REASONS) == set(Status) - {OK}  # every failure has its meaning for the README
    assert STATUSES[0] is OK and Status("network") is Status.NETWORK and Status.NETWORK == "network"
    assert {s for s in Status if s.transient} == TRANSIENT_REASONS
    with pytest.raises(ValueError):
        Status("vanished")
    assert f"{Status.TOO_SHORT}" == str(Status.TOO_SHORT) == "too_short"
    assert json.dumps({"status": Status.OK}) == '{"status": "ok"}'
    column = pa.Table.from_pylist([{"status": Status.SILENT}], schema=MANIFEST_SCHEMA).column("status")
    assert column.type == pa.string() and column.to_pylist() == ["silent"]
