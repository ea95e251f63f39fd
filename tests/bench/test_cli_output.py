"""`valor-bench evaluate`: the --json shapes of the issue, --dsl under its own key, the per-sample parquet
with AudioSet labels, and the human breakdown by audio class."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from valor_bench.cli import main

AVR_KEYS = {"R@1", "R@5", "R@10", "MdR", "MnR"}


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def test_avr_json_shape_dsl_and_per_sample(tmp_path, gt, annotations, good_sim, write_npz):
    sim, text_ids, video_ids = good_sim
    sub = write_npz(sim=sim, text_ids=np.array(text_ids), video_ids=np.array(video_ids))
    out = tmp_path / "ranks.parquet"
    res = run("evaluate", sub, "--task", "avr", "--annotations", annotations["path"], "--json", "--per-sample", out)
    data = json.loads(res.stdout)
    assert set(data) == {"task", "split", "n", "n_text", "coverage", "metrics", "metrics_dsl", "lower_bounds", "notes",
                         "breakdown"}
    assert (data["task"], data["split"], data["n"], data["n_text"]) == ("avr", "file:tiny.json", 12, 15)
    assert data["coverage"] == {"scored": 12, "split_clips": 12, "share": 1.0, "percent": 100.0, "digest": None,
                                "partial": False}
    assert set(data["metrics"]) == {"t2v", "v2t"}
    assert set(data["metrics"]["t2v"]) == AVR_KEYS and set(data["metrics"]["v2t"]) == AVR_KEYS
    assert data["metrics"]["t2v"]["R@1"] == 100.0 and data["metrics"]["v2t"]["MdR"] == 1.0
    assert data["metrics_dsl"] is None
    frame = pd.read_parquet(out)
    assert len(frame) == 15 + 12 and set(frame["direction"]) == {"t2v", "v2t"}
    assert frame.attrs["coverage"] == data["coverage"] and frame.attrs["split"] == "file:tiny.json"
    assert {"query_id", "video_id", "rank", "labels", "label_names", "top_level"} <= set(frame.columns)
    labelled = frame[frame["labels"].map(len) > 0]
    assert len(labelled) == len(frame)  # real AudioSet eval clips: every one has labels
    assert data["breakdown"]["top_level"] and data["breakdown"]["labels"]

    res = run("evaluate", sub, "--task", "avr", "--annotations", annotations["path"], "--json", "--dsl")
    data_dsl = json.loads(res.stdout)
    assert data_dsl["metrics"] == data["metrics"]  # raw numbers are never replaced
    assert set(data_dsl["metrics_dsl"]) == {"t2v", "v2t", "scale"}
    assert set(data_dsl["metrics_dsl"]["t2v"]) == AVR_KEYS
    human = run("evaluate", sub, "--task", "avr", "--annotations", annotations["path"], "--dsl")
    assert "t2v (DSL)" in human.stdout and "by AudioSet top-level category" in human.stdout


def test_avr_ranking_json_is_t2v_only_with_bounds(gt, annotations, write_json):
    videos = gt.video_ids
    text_video = dict(zip(gt.text_ids(), gt.text_video(), strict=True))
    # the target at rank 1 for half the queries, absent from the top 10 for the others
    rankings = {}
    for i, (text, video) in enumerate(text_video.items()):
        others = [v for v in videos if v != video]
        rankings[text] = [video, *others[:9]] if i % 2 == 0 else others[:10]
    res = run("evaluate", write_json(rankings), "--task", "avr", "--annotations", annotations["path"], "--json")
    data = json.loads(res.stdout)
    assert data["metrics"]["v2t"] is None
    assert data["metrics"]["t2v"]["R@1"] == round(8 / 15 * 100, 2)
    assert data["lower_bounds"] == ["t2v.MnR"]  # 8 of 15 found: the median (1) is exact, the mean is not
    human = run("evaluate", write_json(rankings), "--task", "avr", "--annotations", annotations["path"])
    assert "≥" in human.stdout and "text-to-video ranks only" in human.stdout


@pytest.mark.timeout(300)
def test_avc_json_shape_per_sample_and_breakdown(tmp_path, gt, annotations, write_json, sentence):
    recs = [{"video_id": v, "caption": (gt.captions[v][0] if i % 2 else sentence())}
            for i, v in enumerate(gt.video_ids)]
    sub = write_json(recs)
    out = tmp_path / "scores.parquet"
    res = run("evaluate", sub, "--task", "avc", "--annotations", annotations["path"], "--json", "--per-sample", out)
    data = json.loads(res.stdout)
    assert set(data) == {"task", "split", "n", "coverage", "metrics", "notes", "breakdown"}
    assert data["coverage"]["partial"] is False and data["coverage"]["scored"] == 12
    assert (data["task"], data["n"]) == ("avc", 12)
    assert {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"} <= set(data["metrics"])
    assert all(isinstance(v, float) and round(v, 2) == v for v in data["metrics"].values())
    frame = pd.read_parquet(out)
    assert list(frame["video_id"]) == gt.video_ids
    assert {"caption", "references", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "labels", "top_level"} <= set(frame.columns)
    # CIDEr and ROUGE-L are means of their per-sample values
    assert round(frame["CIDEr"].mean(), 2) == data["metrics"]["CIDEr"]
    assert round(frame["ROUGE-L"].mean(), 2) == data["metrics"]["ROUGE-L"]
    # exact copies of references score higher than random sentences
    assert frame["CIDEr"][1::2].mean() > frame["CIDEr"][0::2].mean()
    top = data["breakdown"]["top_level"]
    assert top and {"category", "n", "CIDEr"} <= set(top[0])
    assert sum(r["n"] for r in top) >= 12  # a clip counts in each of its categories
