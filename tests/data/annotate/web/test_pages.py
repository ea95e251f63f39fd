"""The pages without JavaScript, on SQLite and PostgreSQL: writing (player, labels, hints, a refused caption
kept), reviewing with a reason, feedback next to the clip, common problems, the host's page (decisions,
qualification, invites), the audit log, the export and the guidelines."""

from __future__ import annotations

import io
import re
import zipfile

from sqlalchemy import select, update

from valor_data.annotate.schema import captions, clips
from valor_data.annotate.states import Role


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def test_write_page_plays_the_clip_shows_labels_hints_and_saves(web, media_helpers):
    [clip_id] = web.clips(1, stage="first")
    me = web.browser(Role.ANNOTATOR)
    page = me.get("/write")
    assert page.status_code == 200 and clip_id in page.text
    lease = field(page.text, "lease")
    assert f'<video id="player" controls preload="auto" src="/media/{lease}">' in page.text
    assert "<li>Music</li>" in page.text and "<li>Guitar</li>" in page.text
    assert me.get(f"/media/{lease}").headers["content-type"] == "video/mp4"  # the session is enough
    refused = me.post("/write", data={"csrf_token": csrf(page.text), "lease": lease, "shown_at": field(page.text, "shown_at"),
                                      "text": "a man plays guitar loudly"})
    assert refused.status_code == 422 and "at least 8" in refused.text
    assert ">a man plays guitar loudly</textarea>" in refused.text
    assert '<mark title="guitar">guitar</mark>' in refused.text  # hints rendered by the server too
    hints = me.post("/write/hints", data={"csrf_token": csrf(page.text), "lease": lease, "text": "an empty room at dawn"})
    assert hints.json()["no_sound"] is True
    saved = me.post("/write", data={"csrf_token": csrf(page.text), "lease": lease, "shown_at": field(page.text, "shown_at"),
                                    "text": media_helpers.GOOD}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/write"
    after = me.get("/write")
    assert f"Saved: caption on <code>{clip_id}</code>" in after.text and 'id="empty"' in after.text


def test_a_models_draft_is_filled_in_to_edit_and_recorded(web, media_helpers):
    web.configure(drafts=True)
    [clip_id] = web.clips(1, stage="first")
    with web.c.db.write() as conn:
        conn.execute(update(clips).where(clips.c.clip_id == clip_id).values(draft="a man plays a guitar"))
    me = web.browser(Role.ANNOTATOR)
    page = me.get("/write")
    assert 'id="draft-note"' in page.text and ">a man plays a guitar</textarea>" in page.text
    assert field(page.text, "draft_shown") == "1"
    me.post("/write", data={"csrf_token": csrf(page.text), "lease": field(page.text, "lease"), "draft_shown": "1",
                            "text": "a man plays a guitar on a stage while people clap and cheer"})
    with web.c.db.read() as conn:
        row = conn.execute(select(captions.c.draft_shown, captions.c.draft_edit_words)).one()
    assert row.draft_shown and row.draft_edit_words == 8


def test_release_gives_the_clip_back(web):
    [clip_id] = web.clips(1)
    me, other = web.browser(Role.ANNOTATOR), web.join()
    page = me.get("/write")
    r = me.post("/write/release", data={"csrf_token": csrf(page.text), "lease": field(page.text, "lease")},
                follow_redirects=False)
    assert r.status_code == 303
    assert web.api("POST", "/api/v1/next/write", other.token).json()["clip_id"] == clip_id


def test_review_with_a_reason_feedback_next_to_the_clip_and_problems(web, media_helpers):
    [clip_id] = web.clips(1, stage="first")
    author = web.browser(Role.ANNOTATOR)
    page = author.get("/write")
    author.post("/write", data={"csrf_token": csrf(page.text), "lease": field(page.text, "lease"),
                                "text": media_helpers.GOOD})
    checker = web.browser(Role.REVIEWER)
    review = checker.get("/review")
    assert review.status_code == 200 and media_helpers.GOOD in review.text and "guitar</mark>" in review.text
    missing = checker.post("/review", data={"csrf_token": csrf(review.text), "lease": field(review.text, "lease"),
                                            "verdict": "reject"})
    assert missing.status_code == 422 and "reason" in missing.text
    sent = checker.post("/review", data={"csrf_token": csrf(review.text), "lease": field(review.text, "lease"),
                                         "verdict": "reject", "reason": "no-sound",
                                         "comment": "what does the crowd sound like?"}, follow_redirects=False)
    assert sent.status_code == 303
    assert "Verdict saved" in checker.get("/review").text
    again = author.get("/write")
    assert clip_id in again.text and "round 2" in again.text
    assert "no-sound" in again.text and "what does the crowd sound like?" in again.text
    assert checker.pseudonym in again.text  # the first stage names its checker
    feedback = author.get("/feedback")
    assert "what does the crowd sound like?" in feedback.text and clip_id in feedback.text
    problems = author.get("/problems")
    assert "no-sound" in problems.text and clip_id in problems.text and "yours" in problems.text
    host = web.browser(Role.HOST)
    assert author.pseudonym in host.get("/problems").text


def test_host_page_qualifies_invites_decides_and_exports(web, media_helpers):
    web.configure(max_rounds=1)
    [clip_id] = web.clips(1, stage="first")
    host = web.browser(Role.HOST)
    trainee = web.browser(Role.ANNOTATOR, qualified=False)
    page = host.get("/host")
    assert trainee.pseudonym in page.text and 'id="no-decisions"' in page.text
    uid = web.user_id(trainee.pseudonym)
    r = host.post("/host/qualify", data={"csrf_token": csrf(page.text), "user_id": str(uid), "qualified": "1"})
    assert f"{trainee.pseudonym} is qualified" in r.text
    links = host.post("/host/invites", data={"csrf_token": csrf(page.text), "role": "reviewer", "n": "3"})
    assert links.text.count("http://testserver/join/vai_") == 3
    bad = host.post("/host/invites", data={"csrf_token": csrf(page.text), "role": "boss", "n": "1"})
    assert bad.status_code == 422 and "role" in bad.text
    write = trainee.get("/write")
    trainee.post("/write", data={"csrf_token": csrf(write.text), "lease": field(write.text, "lease"),
                                 "text": media_helpers.GOOD})
    review = host.get("/review")
    host.post("/review", data={"csrf_token": csrf(review.text), "lease": field(review.text, "lease"),
                               "verdict": "reject", "reason": "wrong-content"})
    page = host.get("/host")
    assert clip_id in page.text and media_helpers.GOOD in page.text
    caption_id = field(page.text, "caption_id")
    r = host.post("/host/decide", data={"csrf_token": csrf(page.text), "caption_id": caption_id, "verdict": "accept"})
    assert "the clip is accepted" in r.text
    exported = host.get("/host/export.zip")
    assert exported.headers["content-disposition"] == 'attachment; filename="my-valor-campaign-export.zip"'
    z = zipfile.ZipFile(io.BytesIO(exported.content))
    assert any(n.startswith("desc_") for n in z.namelist())
    audit = host.get("/audit")
    assert audit.status_code == 200 and "qualify" in audit.text and trainee.pseudonym in audit.text


def test_guidelines_training_and_home(web):
    assert "Writing an audiovisual caption" in web.client.get("/guidelines").text
    trainee = web.browser(Role.ANNOTATOR, qualified=False)
    training = trainee.get("/training")
    assert "You are not qualified yet" in training.text and "7G0CFAGswrw_240.000_250.000" in training.text
    home = trainee.get("/")
    assert 'href="/dashboard"' in home.text and trainee.pseudonym in home.text
