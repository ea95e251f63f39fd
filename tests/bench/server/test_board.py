"""Boards and pages with coverage (the coverage-aware evaluation adds ``coverage`` to the results): whole
split entries ranked together, partial ones only against entries on the same clips (same digest), labelled
partial; ties share a rank; baselines are marked; the breakdown chart is SVG with escaped labels."""

from __future__ import annotations

import re

from sqlalchemy import insert

from valor_bench.server import queue
from valor_bench.server.board import breakdown_charts, build_board
from valor_bench.server.schema import submissions


def _scored(h, team: str, r1: float, coverage: dict | None = None) -> int:
    """A finished AVR submission with the given t2v R@1, recorded through the queue as a worker records it."""
    token = h.register(team)
    ident_team = h.api("GET", "/api/v1/team", token).json()["team"]["id"]
    with h.state.db.write() as conn:
        sid = conn.execute(insert(submissions).values(
            team_id=ident_team, phase="val", task="avr", status="queued", blob_sha256=f"{ident_team:064x}",
            blob_ext=".npz", filename="s.npz", size_bytes=1, model_name=f"model {team}", created_at=0.0, attempts=0,
            runs=0, hidden=False)).inserted_primary_key[0]
    lease = queue.lease_next(h.state.db, "test", 30, 3)
    assert lease.submission_id == sid
    metrics = {"t2v": {"R@1": r1, "R@5": 90.0, "R@10": 95.0, "MdR": 1.0, "MnR": 3.0}, "v2t": None}
    result = {"task": "avr", "metrics": metrics, "metrics_dsl": None, "lower_bounds": [], "notes": [],
              "breakdown": {"top_level": [{"category": "<b>Music</b>", "n": 3, "R@1": r1}], "labels": []}}
    if coverage:
        result["coverage"] = coverage
    assert queue.finish(h.state.db, lease, result, r1)
    return sid


def _cov(scored: int, digest: str) -> dict:
    return {"scored": scored, "split_clips": 10, "share": scored / 10, "percent": round(100 * scored / 10, 1),
            "digest": digest, "partial": scored < 10}


def test_partial_entries_ranked_only_against_the_same_clips(harness):
    _scored(harness, "full-a", 60.0)
    _scored(harness, "full-b", 70.0, _cov(10, "d-all"))
    _scored(harness, "part-a", 95.0, _cov(8, "d-eight"))
    _scored(harness, "part-b", 80.0, _cov(8, "d-eight"))
    _scored(harness, "part-c", 99.0, _cov(6, "d-six"))
    _scored(harness, "tie", 70.0)
    with harness.state.db.read() as conn:
        board = build_board(conn, harness.state.challenge.phase("val"), "avr")
    groups = [(g.title, g.partial, [(r.rank, r.team) for r in g.rows]) for g in board.groups]
    assert groups[0] == ("whole split", False, [("1", "full-b"), ("1", "tie"), ("3", "full-a")])
    assert groups[1][1] and "80.0% (8/10 clips) partial" in groups[1][0] and "d-eight" in groups[1][0]
    assert groups[1][2] == [("1", "part-a"), ("2", "part-b")]
    assert groups[2][2] == [("1", "part-c")]
    api = harness.api("GET", "/api/v1/leaderboards/val/avr").json()
    assert [g["coverage_digest"] for g in api["groups"]] == [None, "d-eight", "d-six"]
    assert api["groups"][1]["entries"][0]["coverage"]["partial"] is True
    page = harness.client.get("/leaderboard/val/avr").text
    assert page.count('<table class="board"') == 3 and "60.0% (6/10 clips) partial" in page
    csv_text = harness.client.get("/leaderboard/val/avr.csv").text
    assert "80.0% (8/10 clips) partial" in csv_text and "full" in csv_text


def test_submission_page_shows_coverage_and_an_escaped_svg_chart(harness):
    sid = _scored(harness, "cov", 75.0, _cov(8, "abcdef1234567890"))
    c = harness.client  # the host may read any submission
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"token": harness.host_token, "csrf_token": csrf}).status_code == 200
    html = c.get(f"/submissions/{sid}").text
    assert "Coverage: 8 of 10 clips (80.0%)" in html and "<strong>partial</strong>" in html
    assert "abcdef123456" in html
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert "&lt;b&gt;Music&lt;/b&gt;" in svg and "<b>" not in svg
    api = harness.api("GET", f"/api/v1/submissions/{sid}", harness.host_token).json()
    assert api["coverage"]["digest"] == "abcdef1234567890"


def test_charts_scale_and_directions():
    charts = breakdown_charts("avc", {"top_level": [{"category": "Music", "n": 4, "CIDEr": 130.0},
                                                    {"category": "Speech", "n": 2, "CIDEr": 20.0}], "labels": []})
    assert len(charts) == 1 and charts[0].scale_max == 200 and charts[0].title.startswith("CIDEr ↑")
    assert [round(b.width) for b in charts[0].bars] == [234, 36]
    avr = breakdown_charts("avr", {"top_level": [{"category": "x", "n": 1, "R@1": 40.0}],
                                   "labels": [{"name": "Dog", "n": 1, "R@1": 100.0}]})
    assert [c.scale_max for c in avr] == [100.0, 100.0] and avr[1].bars[0].width == avr[1].bar_w
    assert breakdown_charts("avr", None) == []
