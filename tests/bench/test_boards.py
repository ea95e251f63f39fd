"""Leaderboard boards: rows are ranked only against rows on the same ground truth and the same clips
(full coverage, or one available set identified by its digest); the schema migration upgrades old files."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from valor_bench.cli import main
from valor_bench.coverage import Coverage, availability_digest
from valor_bench.leaderboard import (
    SCHEMA_VERSION,
    LeaderboardError,
    add_reference_rows,
    add_submission,
    connect,
    entries,
    group_boards,
)
from valor_bench.report import render_leaderboard

X = availability_digest(["a", "b", "c"])
Y = availability_digest(["a", "b", "d"])


def _add(conn, name: str, r1: float, coverage: Coverage | None = None, split: str = "test", gt: str = "g" * 64):
    scores = {"metrics": {"t2v": {"R@1": r1}, "v2t": None}, "metrics_dsl": None, "lower_bounds": []}
    if coverage:
        scores["coverage"] = coverage.as_json()
    return add_submission(conn, task="avr", split=split, name=name, metadata={"modality": "av"},
                          submission_file=f"{name}.npz", submission_sha256=name.ljust(64, "0"), gt_sha256=gt,
                          scores=scores)


@pytest.fixture
def board_db(tmp_path):
    conn = connect(tmp_path / "lb.sqlite")
    _add(conn, "full-a", 50.0, Coverage.full(3491))
    _add(conn, "full-b", 60.0)  # stored without coverage (as before coverage existed): full
    _add(conn, "part-x1", 90.0, Coverage(3142, 3491, X))
    _add(conn, "part-x2", 70.0, Coverage(3142, 3491, X))
    _add(conn, "part-y", 99.0, Coverage(3000, 3491, Y))
    _add(conn, "other-gt", 100.0, split="file:desc_test.json", gt="f" * 64)
    add_reference_rows(conn, "g" * 64)
    yield conn, tmp_path / "lb.sqlite"
    conn.close()


def _names(board) -> list[str]:
    return [e.name for e in board.entries]


def test_partial_entries_are_ranked_only_with_the_same_digest(board_db):
    conn, _ = board_db
    boards = group_boards(entries(conn, "avr"))
    assert [(b.split, b.view, _names(b)) for b in boards] == [
        ("test", "full", ["VALOR-L", "VALOR-B", "full-b", "full-a"]),
        ("test", "partial", ["part-x1", "part-x2"]),
        ("test", "partial", ["part-y"]),
        ("file:desc_test.json", "full", ["other-gt"]),
    ]
    assert boards[1].coverage.digest == X and "ranked only against entries scored on the same clips" in boards[1].title()
    assert boards[2].coverage.digest == Y and "stands alone" in boards[2].title()
    assert "PARTIAL coverage: 3,000 of 3,491 clips (85.9 %)" in boards[2].title()
    assert "VALOR-32K test (annotations sha256 gggggggggggg)" in boards[0].title()
    assert "file:desc_test.json (annotations sha256 ffffffffffff)" in boards[3].title()

    full_only = group_boards(entries(conn, "avr"), "full")
    assert [(b.view, _names(b), b.hidden_partial) for b in full_only] == [
        ("full", ["VALOR-L", "VALOR-B", "full-b", "full-a"], 3), ("full", ["other-gt"], 0)]
    together = group_boards(entries(conn, "avr"), "all")
    assert [_names(b) for b in together] == [
        ["part-y", "part-x1", "VALOR-L", "part-x2", "VALOR-B", "full-b", "full-a"], ["other-gt"]]


def test_rendered_boards_say_what_they_show(board_db):
    conn, db = board_db
    data = json.loads(render_leaderboard("avr", None, entries(conn, "avr"), "json"))
    assert [len(b["entries"]) for b in data["boards"]] == [4, 2, 1, 1]
    assert [e["rank"] for e in data["boards"][1]["entries"]] == [1, 2]  # part-x1 is not 1 of 7 on the test board
    assert [e["rank"] for e in data["entries"]] == [1, 2, 3, 4, 1, 2, 1, 1]
    assert data["boards"][2]["coverage"]["digest"] == Y and data["boards"][2]["entries"][0]["partial"] is True
    assert data["boards"][0]["entries"][2]["coverage"] is None  # stored before coverage: full, counts unknown
    md = render_leaderboard("avr", None, entries(conn, "avr"), "markdown")
    assert md.count("**AVR leaderboard: ") == 4 and "4 boards, one per ground truth and coverage" in md
    assert "| 1 | part-x1 | av | – | partial 90.0 % |" in md and "| 1 | other-gt | av | – | full |" in md
    res = CliRunner().invoke(main, ["leaderboard", "--task", "avr", "--db", str(db), "--coverage", "full"])
    assert res.exit_code == 0 and "part-x1" not in res.stdout and "3 partial-coverage entries" in res.stdout
    assert "other-gt" not in res.stdout  # --split test (the default) shows the shipped split only
    res = CliRunner().invoke(main, ["leaderboard", "--task", "avr", "--db", str(db), "--split", "all", "--coverage",
                                    "all", "--format", "html"])
    assert res.stdout.count("<table>") == 2 and "ALL coverages ranked together" in res.stdout
    assert "no entries" in render_leaderboard("avc", "test", [], "table")


OLD_SCHEMA = """
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, split TEXT NOT NULL, name TEXT NOT NULL,
    model_name TEXT, modality TEXT, external_data TEXT, url TEXT, submission_file TEXT, submission_sha256 TEXT,
    gt_sha256 TEXT, scores_json TEXT NOT NULL, reported INTEGER NOT NULL DEFAULT 0, note TEXT,
    created_at TEXT NOT NULL, toolkit_version TEXT NOT NULL, metric_versions_json TEXT NOT NULL);
CREATE UNIQUE INDEX one_row_per_file ON submissions (task, gt_sha256, submission_sha256)
    WHERE submission_sha256 IS NOT NULL;
"""


def test_migration_upgrades_an_old_file_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    row = "INSERT INTO submissions (task, split, name, scores_json, created_at, toolkit_version, " \
          "metric_versions_json, submission_sha256, gt_sha256) VALUES ('avr', 'test', ?, ?, 'then', '0.1.0', '{}', ?, 'g')"
    old.execute(row, ("before", json.dumps({"metrics": {"t2v": {"R@1": 10.0}}}), "1" * 64))
    partial = Coverage(90, 100, X).as_json()  # e.g. written by a newer writer into an old file
    old.execute(row, ("scored-partial", json.dumps({"metrics": {"t2v": {"R@1": 20.0}}, "coverage": partial}), "2" * 64))
    old.commit()
    old.close()

    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    cols = {r[1] for r in conn.execute("PRAGMA table_info(submissions)")}
    assert {"scored_clips", "split_clips", "coverage_share", "availability_digest", "partial"} <= cols
    rows = {e.name: e for e in entries(conn, "avr")}
    assert rows["before"].coverage is None and not rows["before"].partial
    assert rows["scored-partial"].coverage == Coverage(90, 100, X) and rows["scored-partial"].partial
    assert tuple(conn.execute("SELECT partial, coverage_share FROM submissions WHERE name = 'scored-partial'")
                 .fetchone()) == (1, 0.9)
    _add(conn, "after", 5.0, Coverage(90, 100, X))
    conn.close()
    again = connect(path)  # a second open is a no-op
    assert [e.name for e in entries(again, "avr")] == ["scored-partial", "before", "after"]
    again.execute("PRAGMA user_version = 99")
    again.commit()
    again.close()
    with pytest.raises(LeaderboardError, match="schema version 99 was written by a newer valor-bench"):
        connect(path)
    res = CliRunner().invoke(main, ["leaderboard", "--task", "avr", "--db", str(path)])
    assert res.exit_code == 1 and "newer valor-bench" in res.output and "Traceback" not in res.output


def test_submit_partial_then_full_lands_on_separate_boards(tmp_path, gt, annotations, good_sim, write_npz):
    sim, text_ids, video_ids = good_sim
    keep = video_ids[:9]
    avail = tmp_path / "avail.txt"
    avail.write_text("\n".join(keep) + "\n")
    rows = [i for i, t in enumerate(text_ids) if t.rsplit("#", 1)[0] in keep]
    part = write_npz("part.npz", sim=sim[np.ix_(rows, range(9))], text_ids=np.array([text_ids[i] for i in rows]),
                     video_ids=np.array(keep))
    full = write_npz("full.npz", sim=sim, text_ids=np.array(text_ids), video_ids=np.array(video_ids))
    db = tmp_path / "lb.sqlite"
    common = ["--task", "avr", "--annotations", str(annotations["path"]), "--db", str(db)]
    res = CliRunner().invoke(main, ["submit", part, *common, "--available", str(avail), "--name", "partial", "--json"])
    assert res.exit_code == 0, res.output
    stored = json.loads(res.stdout)
    assert stored["coverage"] == Coverage.of(keep, video_ids).as_json() and stored["coverage"]["percent"] == 75.0
    assert (stored["position"], stored["board_size"]) == (1, 1)
    res = CliRunner().invoke(main, ["submit", full, *common, "--name", "full"])
    assert res.exit_code == 0, res.output
    assert "position 1 of 1 on AVR file:tiny.json, full coverage" in res.stdout
    assert "coverage: full" not in res.stdout and "full coverage (12 of 12 clips)" in res.stdout
    board = CliRunner().invoke(main, ["leaderboard", "--task", "avr", "--split", gt.split, "--db", str(db)]).stdout
    assert board.index("full coverage;") < board.index("PARTIAL coverage: 9 of 12 clips (75.0 %)")
    row = sqlite3.connect(db).execute("SELECT partial, scored_clips, split_clips, availability_digest FROM submissions "
                                      "WHERE name = 'partial'").fetchone()
    assert row == (1, 9, 12, availability_digest(keep))
