"""The JSON API route by route: registration, tokens, uploads, the queue's outcome, submissions, boards,
host actions, limits and refusals (TestClient against an in-process server; workers run in-process)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from starlette.testclient import TestClient

from valor_bench.server.app import create_app
from valor_bench.server.config import Limits, load_challenge
from valor_bench.server.state import open_server


def test_health_and_challenge(harness):
    assert harness.api("GET", "/api/v1/health").json()["ok"] is True
    info = harness.api("GET", "/api/v1/challenge").json()
    assert [p["name"] for p in info["phases"]] == ["val", "test"]
    val, test = info["phases"]
    assert val["published"] is True and test["published"] is False
    assert val["clips"] == 10 and val["captions"] == 11 and test["clips"] == 8
    assert info["tasks"]["avr"]["extensions"] == [".npz", ".json"]
    assert info["tasks"]["avc"]["max_upload_bytes"] == 256 * 1024
    assert "annotations" not in json.dumps(info) and str(harness.gt_dir) not in json.dumps(info)


def test_register_token_shown_once_stored_hashed(harness):
    r = harness.api("POST", "/api/v1/teams", json={"name": "Team A", "contact": "a@example.org"})
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("vbt_") and len(token) > 40
    assert harness.api("GET", "/api/v1/team", token).json()["team"]["name"] == "Team A"
    with harness.state.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM teams").scalar()
    assert token not in stored and len(stored) == 64
    dup = harness.api("POST", "/api/v1/teams", json={"name": "  team   a "})
    assert dup.status_code == 422 and "already exists" in dup.json()["error"]
    for body, message in (({"name": ""}, "required"), ({"name": "x" * 81}, "at most 80"),
                          ({"name": "a\u0000b"}, "control characters"), ({"name": "ok", "url": "javascript:alert(1)"},
                                                                         "http:// or https://")):
        r = harness.api("POST", "/api/v1/teams", json=body)
        assert r.status_code == 422 and message in r.json()["error"], r.text


def test_token_rotation_revokes_the_old_one(harness):
    old = harness.register("rot")
    new = harness.api("POST", "/api/v1/team/token", old).json()["token"]
    assert harness.api("GET", "/api/v1/team", old).status_code == 401
    assert harness.api("GET", "/api/v1/team", new).status_code == 200


def test_token_checks(harness):
    assert harness.api("GET", "/api/v1/team").status_code == 401
    assert harness.api("GET", "/api/v1/team", "vbt_nope").status_code == 401
    r = harness.api("GET", "/api/v1/team", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "Bearer" in r.json()["error"]
    team = harness.register("t")
    for method, path in (("GET", "/api/v1/host/teams"), ("POST", "/api/v1/host/phases/test/publish"),
                         ("POST", "/api/v1/host/submissions/1/hide"), ("POST", "/api/v1/host/submissions/1/rerun"),
                         ("GET", "/api/v1/host/export"), ("POST", "/api/v1/host/teams/1/approve")):
        assert harness.api(method, path).status_code == 401, path
        assert harness.api(method, path, team).status_code == 403, path
    # the host token is not a team: it cannot submit or pick
    assert harness.api("GET", "/api/v1/team", harness.host_token).status_code == 403
    assert harness.api("POST", "/api/v1/phases/val/tasks/avr/submissions", harness.host_token).status_code == 403
    # cookies never authenticate the API
    harness.client.cookies.set("valor_session", "forged")
    assert harness.api("GET", "/api/v1/team").status_code == 401


def test_upload_queue_finish_and_board(harness, tmp_path, avr_npz):
    gt = harness.gt("val")
    a, b = harness.register("alpha"), harness.register("beta")
    good = avr_npz(gt, tmp_path / "good.npz", quality=1.0)
    weak = avr_npz(gt, tmp_path / "weak.npz", quality=0.3, seed=1)
    r = harness.upload(a, "val", "avr", good, model_name="Alpha net", modality="av", external_data="none",
                       url="https://example.org/alpha")
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["url"].endswith(f"/submissions/{sid}")
    assert harness.api("GET", f"/api/v1/submissions/{sid}", a).json()["status"] == "queued"
    assert harness.upload(b, "val", "avr", weak, model_name="Beta").status_code == 201
    assert harness.run_workers() == 2
    sub = harness.api("GET", f"/api/v1/submissions/{sid}", a).json()
    assert sub["status"] == "finished" and sub["metrics"]["t2v"]["R@1"] == 100.0
    assert [e["status"] for e in sub["events"]] == ["queued", "running", "finished"]
    assert sub["breakdown"]["top_level"] and sub["filename"] == "good.npz"
    board = harness.api("GET", "/api/v1/leaderboards/val/avr").json()
    rows = board["groups"][0]["entries"]
    assert [r["team"] for r in rows] == ["alpha", "beta"] and [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["model_name"] == "Alpha net" and rows[0]["url"] == "https://example.org/alpha"
    assert board["higher_is_better"]["t2v.R@1"] is True and board["higher_is_better"]["t2v.MdR"] is False
    text = harness.api("GET", "/api/v1/leaderboards/val/avr?format=csv").text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:4] == ["group", "rank", "team", "model"] and "t2v R@1 ↑" in table[0] and "t2v MdR ↓" in table[0]
    assert table[1][2] == "alpha"
    page_csv = harness.client.get("/leaderboard/val/avr.csv")
    assert page_csv.status_code == 200 and page_csv.text == text
    mine = harness.api("GET", "/api/v1/submissions", a).json()["submissions"]
    assert [s["id"] for s in mine] == [sid]


def test_best_or_chosen_submission_stands(harness, tmp_path, avr_npz):
    gt = harness.gt("val")
    a = harness.register("alpha")
    first = harness.upload(a, "val", "avr", avr_npz(gt, tmp_path / "1.npz", quality=0.2), model_name="weak").json()
    harness.upload(a, "val", "avr", avr_npz(gt, tmp_path / "2.npz", quality=1.0), model_name="strong")
    harness.run_workers()
    rows = harness.api("GET", "/api/v1/leaderboards/val/avr").json()["groups"][0]["entries"]
    assert [r["model_name"] for r in rows] == ["strong"]
    r = harness.api("POST", f"/api/v1/submissions/{first['id']}/choose", a)
    assert r.status_code == 200 and r.json()["chosen"] is True
    rows = harness.api("GET", "/api/v1/leaderboards/val/avr").json()["groups"][0]["entries"]
    assert [r["model_name"] for r in rows] == ["weak"]
    other = harness.register("other")
    assert harness.api("POST", f"/api/v1/submissions/{first['id']}/choose", other).status_code == 404


def test_validation_problems_are_the_validator_lines(harness, tmp_path):
    gt = harness.gt("val")
    t = harness.register("t")
    bad = tmp_path / "caps.json"
    bad.write_text(json.dumps([{"video_id": v, "caption": ""} for v in gt.video_ids[:-1]]))
    sid = harness.upload(t, "val", "avc", bad).json()["id"]
    harness.run_workers()
    sub = harness.api("GET", f"/api/v1/submissions/{sid}", t).json()
    assert sub["status"] == "failed" and "not a valid AVC submission" in sub["error"]
    assert any(p.startswith("caps.json: empty_caption: empty captions (9)") for p in sub["problems"])
    assert any("missing: video ids of the ground truth missing (1)" in p for p in sub["problems"])
    blob_dir = str(harness.state.store.root)
    assert blob_dir not in json.dumps(sub)
    # a failed submission does not count against the limits and is not on the board
    usage = harness.api("GET", "/api/v1/team", t).json()["usage"]["val"]["avc"]
    assert usage["total"] == 0 and usage["allowed"]


def test_byte_identical_resubmission_refused(harness, tmp_path, avr_npz):
    t = harness.register("t")
    f = avr_npz(harness.gt("val"), tmp_path / "a.npz")
    assert harness.upload(t, "val", "avr", f).status_code == 201
    r = harness.upload(t, "val", "avr", f)
    assert r.status_code == 409 and "byte-identical to your submission #1" in r.json()["error"]


def test_raw_and_form_uploads_store_the_same_file(harness, tmp_path, avr_npz):
    t = harness.register("t")
    f = avr_npz(harness.gt("val"), tmp_path / "a.npz")
    raw = harness.upload(t, "val", "avr", f, model_name="m", modality="av")
    assert raw.status_code == 201, raw.text
    sub = harness.api("GET", f"/api/v1/submissions/{raw.json()['id']}", t).json()
    assert sub["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest() and sub["size_bytes"] == f.stat().st_size
    assert (sub["filename"], sub["model_name"], sub["modality"]) == ("a.npz", "m", "av")
    assert harness.state.store.path(sub["sha256"], ".npz").read_bytes() == f.read_bytes()
    form = harness.upload(t, "val", "avr", f, form=True)
    assert form.status_code == 409 and f"byte-identical to your submission #{sub['id']}" in form.json()["error"]


@pytest.mark.parametrize("params, status, message", [
    ({"filename": "a.npz", "model_name": "m", "modality": "xx"}, 422, "modality: one of av, v, a"),
    ({"filename": "a.npz"}, 422, "model_name"),
    ({"model_name": "m"}, 400, "no file name: give it in the query string, ?filename=submission.npz"),
    ({"filename": "a.csv", "model_name": "m"}, 415, "a.csv: a AVR submission is a .npz or .json file"),
    ({"filename": "a.npz", "model_name": "m", "url": "javascript:alert(1)"}, 422, "url"),
])
def test_raw_upload_metadata_checked_like_the_form(harness, tmp_path, avr_npz, params, status, message):
    t = harness.register("t")
    body = avr_npz(harness.gt("val"), tmp_path / "a.npz").read_bytes()
    r = harness.api("POST", "/api/v1/phases/val/tasks/avr/submissions", t, params=params, content=body,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == status and message in r.json()["error"] and "\n" not in r.json()["error"]
    assert list(harness.state.store.incoming.iterdir()) == []
    assert harness.api("GET", "/api/v1/submissions", t).json()["submissions"] == []


def test_limits_per_day_and_total_say_when(make_harness, tmp_path, avr_npz):
    h = make_harness(per_day=2)
    t = h.register("t")
    gt = h.gt("val")
    for i in range(2):
        assert h.upload(t, "val", "avr", avr_npz(gt, tmp_path / f"{i}.npz", seed=i)).status_code == 201
    r = h.upload(t, "val", "avr", avr_npz(gt, tmp_path / "x.npz", seed=9))
    assert r.status_code == 429
    assert "limit reached: 2 of 2 AVR submissions today (UTC) in phase val; next allowed at" in r.json()["error"]
    assert r.json()["error"].endswith("T00:00:00Z")
    usage = h.api("GET", "/api/v1/team", t).json()["usage"]["val"]
    assert usage["avr"]["allowed"] is False and usage["avr"]["next_allowed"].endswith("T00:00:00Z")
    assert usage["avc"]["allowed"] is True  # limits are per task


def test_limit_total_and_phase_window(harness, tmp_path, avr_npz):
    t = harness.register("t")
    gt = harness.gt("val")
    phases = harness.state.challenge.phases
    phases["val"] = replace(phases["val"], limits=Limits(total=1))
    assert harness.upload(t, "val", "avr", avr_npz(gt, tmp_path / "a.npz")).status_code == 201
    r = harness.upload(t, "val", "avr", avr_npz(gt, tmp_path / "b.npz", seed=3))
    assert r.status_code == 429 and "1 of 1 AVR submissions in total" in r.json()["error"]
    assert "no more submissions to this phase" in r.json()["error"]
    soon = datetime.now(timezone.utc) + timedelta(days=3)
    phases["val"] = replace(phases["val"], limits=Limits(), opens=soon)
    r = harness.upload(t, "val", "avr", avr_npz(gt, tmp_path / "c.npz", seed=4))
    assert r.status_code == 429 and "phase val opens at" in r.json()["error"] and "next allowed at" in r.json()["error"]
    phases["val"] = replace(phases["val"], opens=None, closes=datetime.now(timezone.utc) - timedelta(hours=1))
    r = harness.upload(t, "val", "avr", avr_npz(gt, tmp_path / "d.npz", seed=5))
    assert r.status_code == 429 and "phase val closed at" in r.json()["error"]


def test_private_phase_publish_and_own_scores(harness, tmp_path, avr_npz):
    gt = harness.gt("test")
    a, b = harness.register("alpha"), harness.register("beta")
    sid = harness.upload(a, "test", "avr", avr_npz(gt, tmp_path / "t.npz")).json()["id"]
    harness.run_workers()
    assert harness.api("GET", f"/api/v1/submissions/{sid}", a).json()["metrics"]["t2v"]["R@1"] == 100.0
    assert harness.api("GET", f"/api/v1/submissions/{sid}", b).status_code == 404
    for token in (None, a, b):
        r = harness.api("GET", "/api/v1/leaderboards/test/avr", token)
        assert r.status_code == 403 and "private until the host publishes" in r.json()["error"]
    host_view = harness.api("GET", "/api/v1/leaderboards/test/avr", harness.host_token).json()
    names = [e["model_name"] for e in host_view["groups"][0]["entries"]]
    assert names == ["model", "Paper-B"]  # 100 beats the reported 50; baselines ranked with the teams
    assert host_view["groups"][0]["entries"][1]["reported"] is True
    assert harness.api("POST", "/api/v1/host/phases/test/publish", harness.host_token).json()["published"] is True
    assert harness.api("GET", "/api/v1/leaderboards/test/avr").status_code == 200
    assert harness.api("POST", "/api/v1/host/phases/test/hide", harness.host_token).status_code == 200
    assert harness.api("GET", "/api/v1/leaderboards/test/avr").status_code == 403
    assert harness.api("POST", "/api/v1/host/phases/nope/publish", harness.host_token).status_code == 404


def test_show_own_scores_false_hides_them_until_published(harness, tmp_path, avr_npz):
    phases = harness.state.challenge.phases
    phases["test"] = replace(phases["test"], show_own_scores=False)
    a = harness.register("a")
    sid = harness.upload(a, "test", "avr", avr_npz(harness.gt("test"), tmp_path / "t.npz")).json()["id"]
    harness.run_workers()
    sub = harness.api("GET", f"/api/v1/submissions/{sid}", a).json()
    assert sub["status"] == "finished" and "metrics" not in sub and "private" in sub["scores_hidden_reason"]
    harness.api("POST", "/api/v1/host/phases/test/publish", harness.host_token)
    assert harness.api("GET", f"/api/v1/submissions/{sid}", a).json()["metrics"]["t2v"]["R@1"] == 100.0


def test_host_hide_rerun_approve_export(make_harness, tmp_path, avr_npz):
    h = make_harness(approval=True)
    r = h.api("POST", "/api/v1/teams", json={"name": "waiting"})
    token, tid = r.json()["token"], r.json()["team"]["id"]
    assert r.json()["team"]["status"] == "pending" and "approve" in r.json()["note"]
    f = avr_npz(h.gt("val"), tmp_path / "a.npz")
    r = h.upload(token, "val", "avr", f)
    assert r.status_code == 403 and "waiting for the host's approval" in r.json()["error"]
    assert h.api("POST", f"/api/v1/host/teams/{tid}/approve", h.host_token).json()["status"] == "approved"
    sid = h.upload(token, "val", "avr", f).json()["id"]
    h.run_workers()
    assert len(h.api("GET", "/api/v1/leaderboards/val/avr").json()["groups"][0]["entries"]) == 1
    assert h.api("POST", f"/api/v1/host/submissions/{sid}/hide", h.host_token).json()["hidden"] is True
    assert h.api("GET", "/api/v1/leaderboards/val/avr").json()["groups"][0]["entries"] == []
    assert h.api("POST", f"/api/v1/host/submissions/{sid}/show", h.host_token).status_code == 200
    r = h.api("POST", f"/api/v1/host/submissions/{sid}/rerun", h.host_token)
    assert r.json()["status"] == "queued"
    assert h.api("POST", f"/api/v1/host/submissions/{sid}/rerun", h.host_token).status_code == 409
    assert len(h.api("GET", "/api/v1/leaderboards/val/avr").json()["groups"][0]["entries"]) == 1  # old scores stay
    h.run_workers()
    events = [e["status"] for e in h.api("GET", f"/api/v1/submissions/{sid}", token).json()["events"]]
    assert events == ["queued", "running", "finished", "hidden", "shown", "queued", "running", "finished"]
    export = h.api("GET", "/api/v1/host/export", h.host_token).json()
    assert export["teams"][0]["name"] == "waiting" and "token_hash" not in json.dumps(export)
    assert export["submissions"][0]["runs"] == 2 and export["submissions"][0]["result"]["metrics"]["t2v"]
    text = h.api("GET", "/api/v1/host/export?format=csv", h.host_token).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["team"] == "waiting" and rows[0]["avr:t2v R@1"] == "100.0" and rows[0]["avc:CIDEr"] == ""
    assert h.api("POST", f"/api/v1/host/teams/{tid}/disable", h.host_token).status_code == 200
    assert h.api("GET", "/api/v1/team", token).status_code == 401
    assert h.api("POST", "/api/v1/host/teams/999/approve", h.host_token).status_code == 404
    assert h.api("POST", f"/api/v1/host/submissions/{sid}/explode", h.host_token).status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/phases/nope/tasks/avr/submissions", "/api/v1/phases/val/tasks/xyz/submissions"])
def test_unknown_phase_or_task(harness, path):
    t = harness.register("t")
    r = harness.api("POST", path, t, files={"file": ("a.npz", b"x")})
    assert r.status_code == 404 and "no task" in r.json()["error"]


def test_restart_keeps_every_submission_and_its_state(harness, tmp_path, avr_npz):
    """A new server on the same database and data directory sees finished and queued submissions as they were."""
    a, b = harness.register("a"), harness.register("b")
    done = harness.upload(a, "val", "avr", avr_npz(harness.gt("val"), tmp_path / "d.npz")).json()["id"]
    harness.run_workers()
    queued = harness.upload(b, "val", "avr", avr_npz(harness.gt("val"), tmp_path / "q.npz", seed=2)).json()["id"]
    before = harness.api("GET", f"/api/v1/submissions/{done}", a).json()
    harness.state.db.dispose()
    again = open_server(load_challenge(harness.challenge_path), harness.db_url, harness.tmp / "data")
    try:
        client = TestClient(create_app(again))
        after = client.get(f"/api/v1/submissions/{done}", headers={"Authorization": f"Bearer {a}"}).json()
        assert after == before
        assert client.get(f"/api/v1/submissions/{queued}", headers={"Authorization": f"Bearer {b}"}).json()[
            "status"] == "queued"
    finally:
        again.db.dispose()


def test_upload_score_board_on_postgresql(make_harness, postgres_url, tmp_path, avr_npz):
    """The same path as on SQLite, through psycopg 3: upload, lease (FOR UPDATE SKIP LOCKED), score, board."""
    h = make_harness(db_url=postgres_url)
    gt = h.gt("val")
    tokens = [h.register(f"pg{i}") for i in range(3)]
    for i, t in enumerate(tokens):
        assert h.upload(t, "val", "avr", avr_npz(gt, tmp_path / f"{i}.npz", quality=0.3 * (i + 1), seed=i)).status_code == 201
    assert h.run_workers() == 3
    rows = h.api("GET", "/api/v1/leaderboards/val/avr").json()["groups"][0]["entries"]
    assert [r["team"] for r in rows] == ["pg2", "pg1", "pg0"]
    assert h.api("GET", "/api/v1/host/export", h.host_token).json()["submissions"][0]["status"] == "finished"
