"""`valor-bench export-refs --format coco`: pycocotools' ``COCO(annfile).loadRes(results)`` scored by
pycocoevalcap's ``COCOEvalCap`` gives the numbers `valor-bench evaluate` gives, on real VALOR-32K val
captions (300 clips, chosen with --available so both sides score the same clips); the official VALOR
code's ``video_id`` index resolves every annotation and result."""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pycocoevalcap.eval as coco_eval
import pytest
from click.testing import CliRunner
from pycocotools.coco import COCO

from valor_bench.avc import spice_status
from valor_bench.cli import main
from valor_data.resources import valor32k_annotation_path

pytestmark = pytest.mark.timeout(600)
N_CLIPS = 300
COCO_NAMES = {"Bleu_1": "BLEU-1", "Bleu_2": "BLEU-2", "Bleu_3": "BLEU-3", "Bleu_4": "BLEU-4", "METEOR": "METEOR",
              "ROUGE_L": "ROUGE-L", "CIDEr": "CIDEr"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A submission for 300 real val clips (own captions cut or thinned, or another clip's caption), and
    the references and results export-refs writes for it."""
    tmp = tmp_path_factory.mktemp("coco")
    records = json.loads(valor32k_annotation_path("val").read_text(encoding="utf-8"))[:N_CLIPS]
    rng = random.Random(22)
    preds = []
    for i, rec in enumerate(records):
        own = rec["desc"] if isinstance(rec["desc"], str) else rec["desc"][0]
        words = own.split()
        if i % 3 == 0:
            caption = " ".join(words[: max(4, len(words) // 2)])
        elif i % 3 == 1:
            caption = " ".join(w for w in words if rng.random() > 0.3) or own
        else:
            other = records[(i + 7) % len(records)]["desc"]
            caption = other if isinstance(other, str) else other[0]
        preds.append({"video_id": rec["video_id"], "caption": caption})
    (tmp / "avail.txt").write_text("".join(f"{r['video_id']}\n" for r in records))
    (tmp / "preds.json").write_text(json.dumps(preds))
    res = CliRunner().invoke(main, ["export-refs", "--format", "coco", "--split", "val", "--available",
                                    str(tmp / "avail.txt"), "--out", str(tmp / "refs.json"), "--predictions",
                                    str(tmp / "preds.json"), "--results", str(tmp / "results.json")])
    assert res.exit_code == 0, res.output
    return tmp, records, preds


class _NoSpice:
    """Stands in for pycocoevalcap's Spice, which downloads Stanford CoreNLP when its jars are missing."""

    def compute_score(self, gts, res):
        return 0.0, [0.0] * len(gts)

    def method(self):
        return "SPICE"


def test_cocoevalcap_scores_equal_evaluate(exported, monkeypatch):
    tmp, _records, _preds = exported
    if not spice_status()[0]:
        monkeypatch.setattr(coco_eval, "Spice", _NoSpice)  # SPICE is not compared then (evaluate skips it too)
    coco = COCO(str(tmp / "refs.json"))
    scorer = coco_eval.COCOEvalCap(coco, coco.loadRes(str(tmp / "results.json")))
    scorer.evaluate()
    assert len(scorer.params["image_id"]) == N_CLIPS
    theirs = {ours: round(scorer.eval[name] * 100, 2) for name, ours in COCO_NAMES.items()}

    res = CliRunner().invoke(main, ["evaluate", str(tmp / "preds.json"), "--task", "avc", "--split", "val",
                                    "--available", str(tmp / "avail.txt"), "--json", "--no-spice"])
    assert res.exit_code == 0, res.output
    ours = json.loads(res.stdout)
    assert ours["coverage"]["scored"] == N_CLIPS
    assert {k: ours["metrics"][k] for k in COCO_NAMES.values()} == theirs
    assert theirs["CIDEr"] > 10 and theirs["BLEU-4"] > 1  # the submission is neither empty nor perfect


def test_the_official_video_id_index_resolves_everything(exported):
    """What the official VALOR code's COCO.createIndex and loadRes do: index both files on video_id."""
    tmp, records, preds = exported
    refs = json.loads((tmp / "refs.json").read_text(encoding="utf-8"))
    results = json.loads((tmp / "results.json").read_text(encoding="utf-8"))
    video_to_anns = defaultdict(list)
    for ann in refs["annotations"]:
        video_to_anns[ann["video_id"]].append(ann["caption"])
    assert dict(video_to_anns) == {r["video_id"]: [r["desc"]] if isinstance(r["desc"], str) else r["desc"]
                                   for r in records}
    assert {r["video_id"] for r in results} <= set(video_to_anns)  # its loadRes assertion
    assert {r["video_id"]: r["caption"] for r in results} == {p["video_id"]: p["caption"] for p in preds}
    assert refs["info"]["coverage"]["scored"] == N_CLIPS and refs["info"]["annotations"] == "desc_val.json"


def test_predictions_that_do_not_match_the_references_write_nothing(exported, tmp_path):
    tmp, _records, preds = exported
    (tmp_path / "short.json").write_text(json.dumps(preds[:-1]))
    res = CliRunner().invoke(main, ["export-refs", "--split", "val", "--available", str(tmp / "avail.txt"),
                                    "--out", str(tmp_path / "refs.json"), "--predictions",
                                    str(tmp_path / "short.json"), "--results", str(tmp_path / "results.json")])
    assert res.exit_code == 1
    assert "missing" in res.output and "nothing was written" in res.output
    assert not (tmp_path / "refs.json").exists() and not (tmp_path / "results.json").exists()


def test_predictions_need_a_results_path(tmp_path):
    res = CliRunner().invoke(main, ["export-refs", "--split", "val", "--out", str(tmp_path / "refs.json"),
                                    "--predictions", str(valor32k_annotation_path("val"))])
    assert res.exit_code == 2 and "--predictions and --results go together" in res.output


def test_an_unwritable_out_is_one_line(tmp_path):
    res = CliRunner().invoke(main, ["export-refs", "--split", "val", "--out", str(tmp_path / "no" / "refs.json")])
    assert res.exit_code == 1 and res.output.strip().splitlines() == [
        f"Error: {tmp_path / 'no' / 'refs.json'}: cannot write it (No such file or directory)"]
