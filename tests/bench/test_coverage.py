"""Partial coverage on the real VALOR-32K test split: a submission on 90 % of its clips is scored on the
ground truth restricted to them, equals scoring a ground-truth file that holds only those clips, and says
so (coverage 90.0 %, a digest of the available set, notes on what changes)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from valor_bench.cli import main
from valor_bench.coverage import Coverage, availability_digest, read_availability
from valor_bench.evaluate import evaluate_validated
from valor_bench.ground_truth import load_ground_truth
from valor_bench.validate import validate_submission
from valor_data.availability import write_availability


@pytest.fixture(scope="module")
def test_split():
    return load_ground_truth("test")


@pytest.fixture(scope="module")
def ninety(test_split, tmp_path_factory):
    """90 % of the test clips (3,142 of 3,491, drawn at random), as a list and as a ground-truth file."""
    rng = np.random.default_rng(14)
    n = round(test_split.n_clips * 0.9)
    keep = set(rng.choice(test_split.video_ids, size=n, replace=False).tolist())
    ids = [v for v in test_split.video_ids if v in keep]
    root = tmp_path_factory.mktemp("ninety")
    avail = root / "avail.txt"
    avail.write_text("".join(f"{v}\n" for v in reversed(ids)))  # any order
    subset = root / "desc_subset.json"
    subset.write_text(json.dumps([{"video_id": v, "desc": list(test_split.captions[v])} for v in ids]))
    return {"ids": ids, "avail": avail, "subset": subset}


def test_digest_is_order_free_and_the_sha256_of_a_written_list_body(tmp_path):
    ids = ["b_1.000_2.000", "a_1.000_2.000", "-c_0.000_1.000"]
    assert availability_digest(ids) == availability_digest(sorted(ids) + ids[:1])
    assert availability_digest(ids) != availability_digest(ids[:2])
    digest = write_availability(tmp_path / "l.txt", ids, {"split": "test", "name": "mine"})
    text = (tmp_path / "l.txt").read_text()
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    assert digest == hashlib.sha256(body.encode()).hexdigest()  # `grep -v '^#' l.txt | sha256sum`
    back = read_availability(tmp_path / "l.txt")
    assert sorted(back.clip_ids) == sorted(ids) and back.header["digest"] == f"sha256:{digest}"
    assert back.header["split"] == "test" and back.header["name"] == "mine" and len(back.header["date"]) == 10
    cov = Coverage.of(ids[:2], ids)
    assert cov.as_json() == {"scored": 2, "split_clips": 3, "share": 2 / 3, "percent": 66.7,
                             "digest": availability_digest(ids[:2]), "partial": True}
    assert Coverage.of(ids, ids).as_json()["digest"] is None and not Coverage.of(ids, ids).partial


def test_avc_on_90_percent_equals_a_ground_truth_of_those_clips(test_split, ninety):
    """The one full AVC check (METEOR included): --available on the test split == --annotations subset."""
    from pycocoevalcap.meteor.meteor import Meteor

    rng = np.random.default_rng(0)
    hyps = [{"video_id": v, "caption": " ".join(w for w in test_split.captions[v][0].split() if rng.random() > 0.3)
             or "a sound"} for v in ninety["ids"]]
    sub = ninety["subset"].with_name("preds.json")
    sub.write_text(json.dumps(hyps))
    restricted = load_ground_truth("test", available=ninety["avail"])
    subset = load_ground_truth(annotations=ninety["subset"])
    meteor = Meteor()  # one JVM for both runs: METEOR's EVAL aggregates only the lines it is sent
    try:
        ours = evaluate_validated(validate_submission(sub, "avc", restricted), restricted, spice=False, meteor=meteor)
        ref = evaluate_validated(validate_submission(sub, "avc", subset), subset, spice=False, meteor=meteor)
    finally:
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()
    assert ours.metrics == ref.metrics and set(ours.metrics) >= {"BLEU-4", "METEOR", "ROUGE-L", "CIDEr"}
    pd.testing.assert_frame_equal(ours.per_sample, ref.per_sample)
    cov = ours.as_json()["coverage"]
    assert cov == {"scored": 3142, "split_clips": 3491, "share": 3142 / 3491, "percent": 90.0,
                   "digest": availability_digest(ninety["ids"]), "partial": True}
    assert ours.scores()["coverage"] == cov and ref.coverage == Coverage.full(3142)
    assert "CIDEr-D's IDF comes from the references of these clips only" in ours.notes[0]


def _ranks_by_brute_force(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference ranks on a square matrix whose diagonal holds the true pairs (one caption per clip)."""
    target = np.diag(sim)
    t2v = 1 + (sim >= target[:, None]).sum(axis=1) - 1  # the target counts itself once
    v2t = 1 + (sim >= target[None, :]).sum(axis=0) - 1
    return t2v, v2t


def test_avr_restricted_gallery_equals_reference_ranks_on_the_sub_matrix(test_split, ninety, tmp_path):
    ids = ninety["ids"]
    assert all(len(test_split.captions[v]) == 1 for v in ids)  # VALOR-32K test: one caption per clip
    rng = np.random.default_rng(1)
    full = rng.normal(size=(test_split.n_clips, test_split.n_clips)).astype(np.float32)
    full[np.arange(test_split.n_clips), np.arange(test_split.n_clips)] += 2.0
    full = np.round(full, 1)  # ties, so the pessimistic rule is exercised too
    pos = {v: i for i, v in enumerate(test_split.video_ids)}
    sel = np.array([pos[v] for v in ids])
    sub_matrix = full[np.ix_(sel, sel)]
    want_t2v, want_v2t = _ranks_by_brute_force(sub_matrix)
    # the submission: the sub-matrix, rows and columns shuffled
    rows, cols = rng.permutation(len(ids)), rng.permutation(len(ids))
    sub = tmp_path / "sims.npz"
    np.savez(sub, sim=sub_matrix[np.ix_(rows, cols)], text_ids=np.array([f"{ids[r]}#0" for r in rows]),
             video_ids=np.array([ids[c] for c in cols]))
    per_sample = tmp_path / "ranks.parquet"
    res = CliRunner().invoke(main, ["evaluate", str(sub), "--task", "avr", "--available", str(ninety["avail"]), "--json",
                                    "--per-sample", str(per_sample)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    frame = pd.read_parquet(per_sample)
    t2v = frame[frame.direction == "t2v"].set_index("video_id")["rank"]
    v2t = frame[frame.direction == "v2t"].set_index("video_id")["rank"]
    assert t2v[ids].tolist() == want_t2v.tolist() and v2t[ids].tolist() == want_v2t.tolist()
    assert data["coverage"]["percent"] == 90.0 and data["coverage"]["partial"] is True
    assert frame.attrs["coverage"] == data["coverage"]
    assert any("queries (their captions) and gallery are both restricted" in n for n in data["notes"])
    # the same numbers as a ground truth holding only those clips, which is full coverage of itself
    res = CliRunner().invoke(main, ["evaluate", str(sub), "--task", "avr", "--annotations", str(ninety["subset"]),
                                    "--json"])
    alone = json.loads(res.stdout)
    assert alone["metrics"] == data["metrics"] and alone["coverage"]["partial"] is False
    # ranks among the whole split's gallery would be worse: the restriction changes them
    whole_t2v, _ = _ranks_by_brute_force(full)
    assert (whole_t2v[sel] >= want_t2v).all() and (whole_t2v[sel] > want_t2v).any()
    human = CliRunner().invoke(main, ["evaluate", str(sub), "--task", "avr", "--available", str(ninety["avail"])])
    assert "PARTIAL" in human.stdout and "3,142 of 3,491 clips (90.0 %)" in human.stdout


def test_a_partial_submission_must_cover_exactly_the_available_clips(test_split, ninety, tmp_path):
    ids = ninety["ids"]
    unavailable = next(v for v in test_split.video_ids if v not in set(ids))
    given = [*ids[2:], unavailable]
    sub = tmp_path / "c.json"
    sub.write_text(json.dumps([{"video_id": v, "caption": "a dog barks"} for v in given]))
    restricted = load_ground_truth("test", available=ninety["avail"])
    v = validate_submission(sub, "avc", restricted)
    kinds = {p.kind: p.message for p in v.problems}
    assert kinds["missing"].startswith("video ids of the available clips (avail.txt) missing (2)")
    assert kinds["extra"].startswith("video ids of test clips that avail.txt does not list as available (a partial "
                                     "submission covers exactly the available clips) (1)")
    assert unavailable in kinds["extra"]
    full = validate_submission(sub, "avc", test_split)  # without --available: the full split is expected
    assert "video ids of the ground truth missing (350)" in {p.kind: p.message for p in full.problems}["missing"]


def test_validate_reports_the_coverage_it_would_score(ninety, tmp_path):
    sub = tmp_path / "c.json"
    sub.write_text(json.dumps([{"video_id": v, "caption": "a dog barks"} for v in ninety["ids"]]))
    res = CliRunner().invoke(main, ["validate", str(sub), "--task", "avc", "--available", str(ninety["avail"]), "--json"])
    data = json.loads(res.stdout)
    assert res.exit_code == 0 and data["valid"] and data["coverage"]["percent"] == 90.0 and data["coverage"]["partial"]
    human = CliRunner().invoke(main, ["validate", str(sub), "--task", "avc", "--available", str(ninety["avail"])])
    assert "valid AVC submission for test restricted to 3,142 available clips of 3,491" in human.stdout
    assert "PARTIAL coverage: 3,142 of 3,491 clips (90.0 %)" in human.stdout
