"""Split invariants (exact sizes, disjoint, grouped by YouTube id, stratified, deterministic) and the audit."""

from __future__ import annotations

import json
import random
import string

import pytest

from valor_data.clip import ClipRef
from valor_data.inputs import read_valor_json
from valor_data.resources import VALOR32K_SPLITS, audioset_segments_paths, valor32k_annotation_path
from valor_data.splits.audit import Segment, audit, broken_caption_reason, load_splits, segment_index
from valor_data.splits.stratify import (
    SPLITS,
    check_disjoint,
    label_distance,
    stratified_split,
    target_sizes,
    write_split,
)


def synthetic_clips(n: int = 6000, n_labels: int = 60, seed: int = 0) -> list[ClipRef]:
    """Zipf-like multi-label clips; every 10th YouTube id has 2-3 clips."""
    rng = random.Random(seed)
    labels = [f"/m/l{i:03d}" for i in range(n_labels)]
    weights = [1 / (i + 1) for i in range(n_labels)]
    clips, i = [], 0
    while len(clips) < n:
        ytid = "".join(rng.choice(string.ascii_letters) for _ in range(11))
        for k in range(rng.choice([2, 3]) if i % 10 == 0 else 1):
            labs = tuple(sorted(set(rng.choices(labels, weights, k=rng.randint(1, 3)))))
            clips.append(ClipRef(ytid, 10_000 * k, 10_000 * k + 10_000, labels=labs))
        i += 1
    return clips[:n]


@pytest.fixture(scope="module")
def clips():
    return synthetic_clips()


@pytest.fixture(scope="module")
def result(clips):
    return stratified_split(clips, [4000, 600, 600], seed=1)


def test_sizes_disjoint_and_complete(clips, result):
    sizes = {n: len(v) for n, v in result.splits.items()}
    total = sum(sizes.values()) + len(result.unused)
    assert total == len(clips)
    # groups of 2-3 clips may overshoot a split by at most one group
    assert all(abs(sizes[n] - want) <= 2 for n, want in zip(SPLITS, [4000, 600, 600], strict=True))
    keys = [c.key for part in (*result.splits.values(), result.unused) for c in part]
    assert len(keys) == len(set(keys)) == len(clips)


def test_grouped_by_youtube_id(result):
    assert check_disjoint({**result.splits, "unused": result.unused}) == {}


def test_stratified_better_than_random(clips, result):
    ours = label_distance(result.splits, clips)
    rng = random.Random(0)
    shuffled = rng.sample(clips, len(clips))
    rand = label_distance(
        {"train": shuffled[:4000], "val": shuffled[4000:4600], "test": shuffled[4600:5200]}, clips
    )
    for name in SPLITS:
        assert ours[name]["max_abs_diff_pp"] < 1.0, ours
        assert ours[name]["mean_abs_diff_pp"] < rand[name]["mean_abs_diff_pp"]
    assert max(ours[n]["max_abs_diff_pp"] for n in ("val", "test")) < max(
        rand[n]["max_abs_diff_pp"] for n in ("val", "test")
    )


def test_deterministic_for_a_seed(clips, result):
    again = stratified_split(clips, [4000, 600, 600], seed=1)
    assert {n: [c.key for c in v] for n, v in again.splits.items()} == {
        n: [c.key for c in v] for n, v in result.splits.items()
    }
    other = stratified_split(clips, [4000, 600, 600], seed=2)
    assert [c.key for c in other.splits["test"]] != [c.key for c in result.splits["test"]]


def test_exact_sizes_with_single_clip_ids_and_unlabelled_clips():
    clips = [c for c in synthetic_clips(1200, seed=3) if c.start_ms == 0]
    clips += [ClipRef(f"nolabel{i:04d}", 0, 10_000) for i in range(50)]
    r = stratified_split(clips, [700, 150, 150], seed=0)
    assert [len(r.splits[n]) for n in SPLITS] == [700, 150, 150]
    assert len(r.unused) == len(clips) - 1000


def test_target_sizes():
    assert target_sizes(1000, fractions=[0.8, 0.1, 0.1]) == [800, 100, 100]
    assert target_sizes(1001, fractions=[0.8, 0.1, 0.1]) == [801, 100, 100]  # rounding left-over -> train
    assert target_sizes(1000, fractions=[0.5, 0.1, 0.1]) == [500, 100, 100]
    assert target_sizes(100, sizes=[50, 10, 10]) == [50, 10, 10]
    with pytest.raises(ValueError, match="only 10 candidates"):
        target_sizes(10, sizes=[25, 1, 1])
    with pytest.raises(ValueError, match="summing to at most 1"):
        target_sizes(10, fractions=[0.9, 0.1, 0.1])


def test_write_split_round_trip(tmp_path, result):
    captions = {c.key: ("a dog barks",) for c in result.splits["val"]}
    captions[result.splits["val"][0].key] = ("one", "two")
    written = write_split(result.splits, tmp_path, captions)
    assert (tmp_path / "train_ids.txt").read_text().splitlines() == [
        c.clip_id for c in result.splits["train"]
    ]
    desc = json.loads((tmp_path / "desc_val.json").read_text())
    assert desc[0]["desc"] == ["one", "two"] and desc[1]["desc"] == "a dog barks"
    back = [c for c in read_valor_json(tmp_path / "desc_val.json") if isinstance(c, ClipRef)]
    assert [c.key for c in back] == [c.key for c in result.splits["val"]]
    assert len(written) == 6


# ------------------------------------------------------------------------------------------------------
# the official VALOR-32K split (shipped annotations) and the audit rules
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def official():
    segments = segment_index(audioset_segments_paths())
    return load_splits([valor32k_annotation_path(s) for s in VALOR32K_SPLITS], segments)


def test_official_split_counts_and_audit(official):
    report = audit(official)
    assert {n: s["clips"] for n, s in report["splits"].items()} == {
        "train": 25_327,
        "val": 3_500,
        "test": 3_491,
    }
    broken = report["broken_captions"]
    assert len(broken) == 8
    assert [b["split"] for b in broken].count("train") == 5
    assert all(b["caption"].isdigit() and "milliseconds" in b["reason"] for b in broken)
    assert all(b["clip_id"].split("_")[-2].endswith("." + b["caption"]) for b in broken)
    assert report["leakage"]["ytids_in_several_splits"] == 0
    assert report["leakage"]["audioset_eval_clips_in_train"] == 12_875
    assert report["unlabelled"]["count"] == 0
    assert report["duplicates"]["clip_ids_across_splits"] == []


def test_shipped_id_lists_match_the_annotations(official):
    for split in VALOR32K_SPLITS:
        ids = valor32k_annotation_path(split).with_name(f"{split}_ids.txt").read_text().splitlines()
        assert ids == [c.clip_id for c in official.splits[split]]


def test_broken_caption_rule():
    frac = ClipRef.from_clip_id("Agi5ySKb1tY_23.700_33.700")
    assert "milliseconds" in broken_caption_reason(frac, "700")
    assert broken_caption_reason(frac, "123") == "no letters in the caption"
    assert broken_caption_reason(frac, "  ") == "empty caption"
    assert broken_caption_reason(frac, "A dog barks 3 times") is None


def test_audit_finds_leakage_duplicates_and_unlabelled(tmp_path):
    def write(name, recs):
        path = tmp_path / name
        path.write_text(json.dumps([{"video_id": v, "desc": d} for v, d in recs]))
        return path

    train = write(
        "desc_train.json",
        [
            ("aaaaaaaaaaa_0.000_10.000", "A dog."),
            ("bbbbbbbbbbb_0.000_10.000", "A cat."),
            ("bbbbbbbbbbb_0.000_10.000", "A cat again."),
            ("not-a-clip", "x"),
        ],
    )
    test = write(
        "desc_test.json", [("aaaaaaaaaaa_20.000_30.000", "A dog."), ("ccccccccccc_1.500_11.500", "500")]
    )
    segments = {
        "bbbbbbbbbbb_0_10000": Segment("eval", ("/m/0bt9lr",)),
        "aaaaaaaaaaa_20000_30000": Segment("balanced_train", ("/m/0bt9lr",)),
    }
    report = audit(load_splits([train, test], segments))
    assert report["leakage"]["ytids_in_several_splits"] == 1
    assert report["leakage"]["ytid_examples"] == {"aaaaaaaaaaa": ["test", "train"]}
    assert report["leakage"]["audioset_eval_clips_in_train"] == 2
    assert report["duplicates"]["clip_ids_within_split"] == {"train": ["bbbbbbbbbbb_0.000_10.000"]}
    assert report["duplicates"]["identical_captions"] == 1
    assert report["unlabelled"]["count"] == 2
    assert [b["clip_id"] for b in report["broken_captions"]] == ["ccccccccccc_1.500_11.500"]
    assert len(report["bad_rows"]) == 1 and "desc_train.json:4" in report["bad_rows"][0]["where"]
