"""`submit` + `leaderboard` round trip on a temporary SQLite file: stored metadata and versions,
byte-identical resubmission refused, ranking by the main metric, directions, reference rows."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
from click.testing import CliRunner

from valor_bench.cli import main
from valor_bench.leaderboard import add_submission, connect, default_db_path, entries
from valor_bench.report import render_leaderboard


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_submit_then_leaderboard_round_trip(tmp_path, gt, annotations, good_sim, write_npz):
    sim, text_ids, video_ids = good_sim
    db = tmp_path / "lb.sqlite"
    gt_args = ["--task", "avr", "--annotations", annotations["path"], "--db", db]
    perfect = write_npz("perfect.npz", sim=sim, text_ids=np.array(text_ids), video_ids=np.array(video_ids))
    noisy_sim = sim + np.random.default_rng(1).uniform(0, 0.8, size=sim.shape).astype(np.float32)
    noisy = write_npz("noisy.npz", sim=noisy_sim, text_ids=np.array(text_ids), video_ids=np.array(video_ids))

    res = invoke("submit", noisy, *gt_args, "--name", "noisy", "--modality", "v", "--external-data", "none")
    assert res.exit_code == 0, res.output
    assert "stored #1 'noisy'" in res.stdout and "position 1 of 1" in res.stdout
    res = invoke("submit", perfect, *gt_args, "--model-name", "Perfect", "--modality", "av", "--url", "http://x")
    assert res.exit_code == 0, res.output
    assert "stored #2 'Perfect'" in res.stdout and "position 1 of 2" in res.stdout

    again = invoke("submit", perfect, *gt_args, "--name", "same bytes")
    assert again.exit_code == 1 and "byte-identical to submission #2 'Perfect'" in again.output
    assert "Traceback" not in again.output

    row = sqlite3.connect(db).execute(
        "SELECT submission_sha256, gt_sha256, toolkit_version, metric_versions_json, created_at, modality, url "
        "FROM submissions WHERE id = 2").fetchone()
    assert len(row[0]) == 64 and row[1] == gt.sha256 and row[2]
    assert "pycocoevalcap" in json.loads(row[3]) and row[4].endswith("+00:00") and row[5:] == ("av", "http://x")

    data = json.loads(invoke("leaderboard", "--task", "avr", "--split", gt.split, "--db", db, "--format", "json").stdout)
    assert [e["name"] for e in data["entries"]] == ["Perfect", "noisy"] and data["main_metric"] == "t2v R@1"
    assert data["higher_is_better"]["t2v.R@1"] is True and data["higher_is_better"]["t2v.MdR"] is False
    assert [e["rank"] for e in data["entries"]] == [1, 2] and data["entries"][0]["metrics"]["t2v"]["R@1"] == 100.0

    md = invoke("leaderboard", "--task", "avr", "--split", gt.split, "--db", db, "--format", "markdown").stdout
    assert "t2v R@1 ↑" in md and "t2v MdR ↓" in md and "| 1 | Perfect | av |" in md and "| 2 | noisy | v |" in md
    html = invoke("leaderboard", "--task", "avr", "--split", gt.split, "--db", db, "--format", "html").stdout
    assert html.startswith("<table>") and "<td>Perfect</td>" in html
    table = invoke("leaderboard", "--task", "avr", "--split", gt.split, "--db", db).stdout
    assert "Perfect" in table and "reproduced (sha256" in table
    assert "Perfect" not in invoke("leaderboard", "--task", "avr", "--db", db).stdout  # default split: test


def test_reference_rows_are_marked_and_added_once(tmp_path):
    db = tmp_path / "lb.sqlite"
    first = invoke("leaderboard", "--add-reference", "--db", db)
    assert first.exit_code == 0 and "added 4 reference rows" in first.output
    second = invoke("leaderboard", "--add-reference", "--task", "avc", "--db", db, "--format", "json")
    assert "added 0 reference rows" in second.output
    data = json.loads(second.stdout)
    assert [e["name"] for e in data["entries"]] == ["VALOR-L", "VALOR-B"]  # CIDEr 61.5 before 55.7
    assert all(e["reported"] and "reported, not reproduced" in e["note"] for e in data["entries"])
    assert data["entries"][1]["metrics"] == {"BLEU-4": 8.9, "METEOR": 14.8, "ROUGE-L": 30.8, "CIDEr": 55.7}
    avr = json.loads(invoke("leaderboard", "--task", "avr", "--db", db, "--format", "json").stdout)
    assert [e["metrics"]["t2v"]["R@1"] for e in avr["entries"]] == [73.2, 67.9]
    md = invoke("leaderboard", "--task", "avr", "--db", db, "--format", "markdown").stdout
    assert "reported, not reproduced" in md and "| – |" in md  # MdR/MnR were not published


def test_avc_board_ranks_by_cider_and_shows_missing_metrics(tmp_path):
    conn = connect(tmp_path / "lb.sqlite")
    for name, cider in (("low", 10.0), ("high", 40.0), ("tie", 40.0)):
        add_submission(conn, task="avc", split="test", name=name, metadata={"modality": "a"},
                       submission_file=f"{name}.json", submission_sha256=name * 8, gt_sha256="g",
                       scores={"metrics": {"BLEU-4": 1.0, "METEOR": 2.0, "ROUGE-L": 3.0, "CIDEr": cider}})
    rows = entries(conn, "avc", "test")
    assert [e.name for e in rows] == ["high", "tie", "low"]
    text = render_leaderboard("avc", "test", rows, "markdown")
    assert "| 1 | high | a |" in text and "| 1 | tie | a |" in text and "| 3 | low | a |" in text
    assert "CIDEr ↑" in text and "SPICE" not in text


def test_default_db_path_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VALOR_LEADERBOARD", str(tmp_path / "x.sqlite"))
    assert default_db_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("VALOR_LEADERBOARD")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "valor" / "leaderboard.sqlite"
