"""The JSON API on SQLite and PostgreSQL: joining by one-time invite, writing, refused captions, reviewing
in the three stages, rework with blind feedback, the host's decisions, qualification and invites,
hints, problems, status and export."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from valor_data.annotate.states import Role


def test_invite_joins_once_and_the_token_identifies(web):
    invite = web.api("POST", "/api/v1/host/invites", web.host().token, json={"role": "annotator", "n": 2})
    assert invite.status_code == 201
    first, second = invite.json()["invites"]
    assert invite.json()["links"][0].endswith(f"/join/{first}")
    joined = web.api("POST", "/api/v1/join", json={"invite": first})
    assert joined.status_code == 201 and joined.json()["role"] == "annotator"
    again = web.api("POST", "/api/v1/join", json={"invite": first})
    assert again.status_code == 422 and "already used" in again.json()["error"]
    assert web.api("POST", "/api/v1/join", json={"invite": "vai_made-up"}).status_code == 422
    me = web.api("GET", "/api/v1/me", joined.json()["token"]).json()
    assert me == {"pseudonym": joined.json()["pseudonym"], "role": "annotator", "qualified": False}
    assert web.api("GET", "/api/v1/me", "vat_nonsense").status_code == 401
    assert web.api("POST", "/api/v1/join", json={"invite": second}).status_code == 201


def test_write_then_three_blind_reviews_more_than_one_reject_sends_it_back(web):
    [clip_id] = web.clips(1, stage="second")
    author = web.join()
    reviewers = [web.join(Role.REVIEWER) for _ in range(3)]
    task = web.api("POST", "/api/v1/next/write", author.token).json()
    assert task["clip_id"] == clip_id and task["round"] == 1 and task["labels"] == ["Music", "Guitar"]
    assert task["media_url"] == f"/media/{task['lease']}" and task["feedback"] == []
    saved = web.api("POST", "/api/v1/captions", author.token,
                    json={"lease": task["lease"], "text": web_good(), "seconds": 41.5})
    assert saved.status_code == 201 and saved.json()["state"] == "review"
    assert web.api("POST", "/api/v1/next/review", author.token).status_code == 204  # never the author
    outcomes = [web.verdict(reviewers[0].token, "reject", "no-sound", "no sound named")["outcome"],
                web.verdict(reviewers[1].token, "reject", "too-short")["outcome"],
                web.verdict(reviewers[2].token, "accept")["outcome"]]
    assert outcomes == ["pending", "pending", "rework"]
    again = web.api("POST", "/api/v1/next/write", author.token).json()
    assert again["clip_id"] == clip_id and again["round"] == 2
    assert sorted(f["reason"] or "" for f in again["feedback"]) == ["", "no-sound", "too-short"]
    assert {f["reviewer"] for f in again["feedback"]} == {None}  # blind in the second stage
    web.api("POST", "/api/v1/captions", author.token, json={"lease": again["lease"], "text": web_good() + " Birds sing."})
    assert [web.verdict(r.token, "accept")["outcome"] for r in reviewers][-1] == "accepted"
    fb = web.api("GET", "/api/v1/feedback", author.token)
    assert fb.status_code == 200


def web_good() -> str:
    return "A man in a red shirt plays an acoustic guitar on a stage while people clap and cheer loudly."


@pytest.mark.parametrize("text, status, words", [
    ("", 422, "empty"),
    ("  ...  !!  ", 422, "empty"),
    ("a dog barks", 422, "at least 8"),
    ("a " * 600, 422, "at most 1000"),
    ("dog " * 26_000, 422, "too large"),  # 104 KB: over the 100 KB rule, under the body limit
    ("a dog barks \ud800 at a cat on the roof tonight", 422, "UTF-8"),
    (17, 422, "expected a string"),
])
def test_refused_captions_say_why_and_keep_the_lease(web, text, status, words):
    web.clips(1)
    author = web.join()
    task = web.api("POST", "/api/v1/next/write", author.token).json()
    body = json.dumps({"lease": task["lease"], "text": text}).encode("utf-8", "surrogatepass")
    r = web.api("POST", "/api/v1/captions", author.token, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status and words in r.json()["error"], r.text
    assert web.api("POST", "/api/v1/next/write", author.token).json()["lease"] == task["lease"]


def test_non_utf8_and_oversized_bodies_are_refused_clearly(web):
    web.clips(1)
    author = web.join()
    task = web.api("POST", "/api/v1/next/write", author.token).json()
    latin1 = '{"lease": "' + task["lease"] + '", "text": "un caf\xe9 bruyant o\xf9 un chien aboie tr\xe8s fort"}'
    r = web.api("POST", "/api/v1/captions", author.token, content=latin1.encode("latin-1"),
                headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "utf-8" in r.json()["error"].lower()
    huge = json.dumps({"lease": task["lease"], "text": "dog " * 40_000})
    r = web.api("POST", "/api/v1/captions", author.token, content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "KiB" in r.json()["error"]


def test_a_lease_that_is_not_yours_is_refused(web):
    web.clips(2)
    one, two = web.join(), web.join()
    mine = web.api("POST", "/api/v1/next/write", one.token).json()
    web.api("POST", "/api/v1/next/write", two.token)
    r = web.api("POST", "/api/v1/captions", two.token, json={"lease": mine["lease"], "text": web_good()})
    assert r.status_code == 409 and "lease" in r.json()["error"]
    assert web.api("POST", "/api/v1/leases/release", one.token, json={"lease": mine["lease"]}).json() == {"released": True}
    assert web.api("POST", "/api/v1/leases/release", one.token, json={"lease": mine["lease"]}).json() == {"released": False}


def test_training_gold_reviewed_by_the_host_qualifies(web):
    web.configure(qualification_min_accepted=2)
    web.clips(2, stage="first", gold=True)
    web.clips(1, stage="first", start=10)
    trainee = web.join(qualified=False)
    host = web.host()
    for _ in range(2):
        task = web.api("POST", "/api/v1/next/write", trainee.token).json()
        assert task["stage"] == "first" and task["clip_id"].startswith("clip0000")
        web.api("POST", "/api/v1/captions", trainee.token, json={"lease": task["lease"], "text": web_good()})
        review = web.api("POST", "/api/v1/next/review", host.token).json()
        assert review["stage"] == "training"
        web.api("POST", "/api/v1/verdicts", host.token, json={"lease": review["lease"], "verdict": "accept"})
    assert web.api("GET", "/api/v1/me", trainee.token).json()["qualified"] is True
    task = web.api("POST", "/api/v1/next/write", trainee.token).json()
    assert task["clip_id"] == "clip00010___10.000_20.000"


def test_max_rounds_go_to_the_host_who_alone_decides(web):
    web.configure(max_rounds=1)
    web.clips(1, stage="first")
    author, checker, host = web.join(), web.join(Role.REVIEWER), web.host()
    web.write(author.token)
    assert web.verdict(checker.token, "reject", "wrong-content", "it is a piano")["outcome"] == "host"
    assert web.api("GET", "/api/v1/status", host.token).status_code == 200
    for who in (author, checker):
        r = web.api("POST", "/api/v1/host/decisions", who.token, json={"caption_id": 1, "verdict": "accept"})
        assert r.status_code == 403
    r = web.api("POST", "/api/v1/host/decisions", host.token, json={"caption_id": 1, "verdict": "accept"})
    assert r.status_code == 201 and r.json()["state"] == "accepted", r.text
    again = web.api("POST", "/api/v1/host/decisions", host.token, json={"caption_id": 1, "verdict": "accept"})
    assert again.status_code == 409


def test_export_holds_the_accepted_caption_and_only_hosts_get_it(web):
    [clip_id] = web.clips(1, stage="first")
    author, checker = web.join(), web.join(Role.REVIEWER)
    web.write(author.token)
    web.verdict(checker.token, "accept")
    for who in (author, checker):
        assert web.api("GET", "/api/v1/host/export", who.token).status_code == 403
    r = web.api("GET", "/api/v1/host/export", web.host().token)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = z.namelist()
    assert "provenance.parquet" in names
    [desc] = [n for n in names if n.startswith("desc_")]
    assert json.loads(z.read(desc)) == [{"video_id": clip_id, "desc": web_good()}]


def test_hints_find_concepts_and_copies_of_the_askers_captions(web):
    web.clips(2)
    author = web.join()
    web.write(author.token)
    task = web.api("POST", "/api/v1/next/write", author.token).json()
    r = web.api("POST", "/api/v1/hints", author.token, json={"text": web_good(), "lease": task["lease"]})
    h = r.json()
    assert r.status_code == 200 and h["words"] == 19 and h["near_duplicate_of"] == "clip00000___0.000_10.000"
    assert any(c[2] == "guitar" for c in h["concepts"]) and h["labels_named"] == ["Guitar"]
    quiet = web.api("POST", "/api/v1/hints", author.token, json={"text": "a man walks along a street in the sun"}).json()
    assert quiet["no_sound"] is True and quiet["near_duplicate_of"] is None


def test_problems_list_reasons_with_counts_and_clips(web):
    ids = web.clips(2, stage="first")
    author, checker = web.join(), web.join(Role.REVIEWER)
    for _ in ids:
        web.write(author.token)
    for _ in ids:
        web.verdict(checker.token, "reject", "no-sound")
    r = web.api("GET", "/api/v1/problems", author.token).json()
    [overall] = r["overall"]
    assert overall["reason"] == "no-sound" and overall["count"] == 2 and sorted(overall["clip_ids"]) == ids
    assert r["yours"][0]["count"] == 2
    assert "yours" not in web.api("GET", "/api/v1/problems", checker.token).json()


@pytest.mark.parametrize("payload, words", [
    ({"lease": "x", "verdict": "maybe"}, "accept or reject"),
    ({"lease": "x", "verdict": "reject"}, "reason"),
    ({"lease": "x", "verdict": "reject", "reason": "ugly"}, "not one of"),
    ({"lease": "x", "verdict": "accept", "seconds": "ten"}, "seconds"),
])
def test_bad_verdicts_are_refused(web, payload, words):
    reviewer = web.join(Role.REVIEWER)
    r = web.api("POST", "/api/v1/verdicts", reviewer.token, json=payload)
    assert r.status_code == 422 and words in r.json()["error"], r.text
