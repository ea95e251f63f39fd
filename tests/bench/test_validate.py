"""The validator names each problem of a broken submission on one line; the CLI exits non-zero with no
traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from valor_bench.cli import main
from valor_bench.formats import read_metadata, sidecar_path
from valor_bench.validate import validate_submission


def kinds(v) -> dict[str, str]:
    return {p.kind: p.message for p in v.problems}


def avc_records(gt, caption="a dog barks"):
    return [{"video_id": v, "caption": caption} for v in gt.video_ids]


def test_valid_avc_json_and_jsonl(gt, write_json):
    for name in ("sub.json", "sub.jsonl"):
        v = validate_submission(write_json(avc_records(gt), name), "avc", gt)
        assert v.ok, v.problems


def test_avc_missing_extra_duplicate_ids(gt, write_json):
    recs = avc_records(gt)[3:] + [{"video_id": "nope_1.000_2.000", "caption": "x"}, avc_records(gt)[5]]
    v = validate_submission(write_json(recs), "avc", gt)
    k = kinds(v)
    assert k["missing"].startswith("video ids of the ground truth missing (3): ") and gt.video_ids[0] in k["missing"]
    assert "video ids not in the ground truth (1): 'nope_1.000_2.000'" in k["extra"]
    assert f"{gt.video_ids[5]} (2x)" in k["duplicate"]
    assert all("\n" not in p.message for p in v.problems)


def test_avc_caption_problems(gt, write_json):
    recs = avc_records(gt)
    recs[0]["caption"] = "   "
    recs[1]["caption"] = 42
    recs[2]["caption"] = "first line\rsecond line"
    recs[3]["caption"] = "word " * 1000
    recs[4]["video_id"] = 7
    recs.append("not an object")
    k = kinds(validate_submission(write_json(recs), "avc", gt))
    assert gt.video_ids[0] in k["empty_caption"]
    assert "captions that are not strings" in k["not_string"] or "video ids that are not strings" in k["not_string"]
    assert "\\r" in k["line_break"] and gt.video_ids[2] in k["line_break"]
    assert "captions longer than 2,000 characters (1)" in k["too_long"]
    assert "record 13" in k["bad_record"]


def test_many_problems_are_grouped_with_counts(gt, write_json):
    k = kinds(validate_submission(write_json([]), "avc", gt))
    assert k["missing"].startswith("video ids of the ground truth missing (12)") and "(and 7 more)" in k["missing"]


@pytest.mark.parametrize("text, kind", [("{not json", "format"), ('{"a": 1}', "format")])
def test_avc_unreadable_files(tmp_path, gt, text, kind):
    path = tmp_path / "sub.json"
    path.write_text(text)
    assert kind in kinds(validate_submission(path, "avc", gt))
    wrong = tmp_path / "sub.csv"
    wrong.write_text("x")
    assert "a .json or .jsonl file" in kinds(validate_submission(wrong, "avc", gt))["format"]


def test_valid_npz_with_bare_and_indexed_text_ids(gt, good_sim, write_npz):
    sim, text_ids, video_ids = good_sim
    bare = [t.removesuffix("#0") if gt.captions[t.split("#")[0]].__len__() == 1 else t for t in text_ids]
    v = validate_submission(write_npz(sim=sim, text_ids=np.array(bare), video_ids=np.array(video_ids)), "avr", gt)
    assert v.ok, v.problems


def test_npz_problems(gt, good_sim, write_npz):
    sim, text_ids, video_ids = good_sim
    bad = sim.copy()
    bad[0, 0], bad[2, 1] = np.nan, np.inf
    k = kinds(validate_submission(write_npz(sim=bad, text_ids=np.array(text_ids), video_ids=np.array(video_ids)),
                                  "avr", gt))
    assert k["nonfinite"].startswith("NaN or infinite similarities (2)") and text_ids[0] in k["nonfinite"]

    ids = list(text_ids)
    ids[1] = ids[0].removesuffix("#0")  # the same caption twice: bare id and #0
    ids[2] = "ghost#0"
    k = kinds(validate_submission(write_npz(sim=sim, text_ids=np.array(ids), video_ids=np.array(video_ids)), "avr", gt))
    assert "'ghost#0'" in k["extra"] and "(2x)" in k["duplicate"] and text_ids[1] in k["missing"]

    k = kinds(validate_submission(write_npz(sim=sim[:, :-1], text_ids=np.array(text_ids),
                                            video_ids=np.array(video_ids)), "avr", gt))
    assert "sim has shape" in k["shape"]
    k = kinds(validate_submission(write_npz(sim=sim.astype(np.int32), text_ids=np.array(text_ids),
                                            video_ids=np.array(video_ids)), "avr", gt))
    assert "floating point" in k["dtype"]
    k = kinds(validate_submission(write_npz(sim=sim, text_ids=np.array(text_ids, dtype=object),
                                            video_ids=np.array(video_ids)), "avr", gt))
    assert "object (pickled) array" in k["dtype"]
    k = kinds(validate_submission(write_npz(sim=sim, video_ids=np.array(video_ids)), "avr", gt))
    assert "missing array(s) text_ids" in k["format"]
    k = kinds(validate_submission(write_npz(sim=sim[:, 1:], text_ids=np.array(text_ids),
                                            video_ids=np.array(video_ids[1:])), "avr", gt))
    assert "video ids of the ground truth missing (1)" in k["missing"]


def test_not_a_zip(tmp_path, gt):
    path = tmp_path / "sub.npz"
    path.write_bytes(b"not a zip")
    assert "not a readable .npz" in kinds(validate_submission(path, "avr", gt))["format"]


def test_ranking_problems(gt, write_json):
    videos = gt.video_ids
    rankings = {t: list(videos[:10]) for t in gt.text_ids()}
    first, second, third = list(rankings)[:3]
    rankings[first] = videos[:4]
    rankings[second] = [*videos[:9], "ghost_0.000_1.000"]
    rankings[third] = [videos[0]] * 10
    del rankings[gt.text_ids()[-1]]
    fourth = gt.text_ids()[3]
    text = json.dumps(rankings)[:-1] + f', "{fourth}": {json.dumps(videos[:10])}, "x": "y"}}'
    path = write_json(None)
    with open(path, "w") as f:
        f.write(text)
    v = validate_submission(path, "avr", gt)
    k = kinds(v)
    assert f"{first} (4)" in k["short_ranking"]
    assert "ghost_0.000_1.000" in k["unknown_id"]
    dup_lines = [p.message for p in v.problems if p.kind == "duplicate"]
    assert any("query keys repeated in the JSON object (1)" in m and fourth in m for m in dup_lines)
    assert any("rankings listing a video more than once (1)" in m and third in m for m in dup_lines)
    assert "rankings that are not lists of video id strings (1)" in k["bad_record"]
    assert gt.text_ids()[-1] in k["missing"]


def test_metadata_sidecar_and_cli_override(tmp_path, gt, write_json):
    sub = write_json(avc_records(gt), "run1.json")
    assert sidecar_path(sub).name == "run1.meta.json"
    sidecar_path(sub).write_text(json.dumps({"model_name": "M", "modality": "v", "colour": "red"}))
    meta, problems = read_metadata(sub, {"modality": "av", "url": None})
    assert meta.model_name == "M" and meta.modality == "av"
    assert len(problems) == 1 and "unknown field 'colour'" in problems[0]
    sidecar_path(sub).write_text(json.dumps({"modality": "audio"}))
    v = validate_submission(sub, "avc", gt)
    assert "modality 'audio' is not one of av, v, a" in kinds(v)["metadata"]


def test_cli_validate_lines_exit_code_and_json(gt, annotations, write_json):
    recs = avc_records(gt)[1:]
    recs[0]["caption"] = ""
    path = write_json(recs)
    runner = CliRunner()
    res = runner.invoke(main, ["validate", path, "--task", "avc", "--annotations", str(annotations["path"])])
    assert res.exit_code == 1 and res.exception is None or isinstance(res.exception, SystemExit)
    lines = [ln for ln in res.stdout.splitlines() if ln]
    assert len(lines) == 2 and any("missing:" in ln for ln in lines) and any("empty_caption:" in ln for ln in lines)
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["validate", path, "--task", "avc", "--annotations", str(annotations["path"]), "--json"])
    data = json.loads(res.stdout)
    assert res.exit_code == 1 and data["valid"] is False
    assert {p["kind"] for p in data["problems"]} == {"missing", "empty_caption"}
    ok = runner.invoke(main, ["validate", write_json(avc_records(gt)), "--task", "avc",
                              "--annotations", str(annotations["path"])])
    assert ok.exit_code == 0 and "valid AVC submission" in ok.stdout


def test_cli_bad_ground_truth_and_evaluate_refuses_invalid(tmp_path, gt, annotations, write_json):
    broken = tmp_path / "gt.json"
    broken.write_text(json.dumps([{"video_id": "a"}, {"video_id": "b", "desc": ""}]))
    runner = CliRunner()
    res = runner.invoke(main, ["validate", write_json([]), "--task", "avc", "--annotations", str(broken)])
    assert res.exit_code == 1 and "2 invalid records" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["evaluate", write_json(avc_records(gt)[2:]), "--task", "avc",
                               "--annotations", str(annotations["path"])])
    assert res.exit_code == 1 and "not a valid AVC submission (1 problem)" in res.output
    res = runner.invoke(main, ["evaluate", write_json(avc_records(gt)), "--task", "avc", "--dsl",
                               "--annotations", str(annotations["path"])])
    assert res.exit_code == 2 and "--dsl applies to --task avr only" in res.output
