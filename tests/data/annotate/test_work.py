"""What saves, verdicts and host decisions do, on SQLite and PostgreSQL: the "more than 1 of 3" rule and its
rework round, blind feedback in the second stage, max rounds → the host, qualification by gold captions,
rework by another annotator, refused captions and verdicts, and one audit row per change."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from valor_data.annotate.assign import next_review, next_write
from valor_data.annotate.people import NotAllowed
from valor_data.annotate.rules import CaptionRefused, check_caption
from valor_data.annotate.schema import audit, decisions
from valor_data.annotate.states import Role
from valor_data.annotate.work import host_decide, save_caption, save_verdict
from valor_data.web.errors import HttpError, InputError

REASONS = ["no-sound", "wrong-content", None]


def _write(c, user, text):
    task = next_write(c, user)
    return task, save_caption(c, user, task.lease, text)


def _review_by(c, reviewers, verdicts):
    """Each reviewer gives one verdict (reject with a reason, accept without); returns the outcomes."""
    outcomes = []
    for who, verdict, reason in zip(reviewers, verdicts, REASONS, strict=False):
        task = next_review(c, who)
        outcomes.append(save_verdict(c, who, task.lease, verdict, reason if verdict == "reject" else None,
                                     f"{who.pseudonym} says {verdict}", seconds=2.5).outcome)
    return outcomes


def test_more_than_one_of_three_rejects_sends_it_back_to_its_author_blind(campaign, h):
    [clip_id] = h.add_clips(campaign, 1, stage="second")
    author, bystander = h.person(campaign), h.person(campaign)
    reviewers = [h.person(campaign, Role.REVIEWER) for _ in range(3)]
    task, saved = _write(campaign, author, h.GOOD)
    assert (saved.clip_id, saved.state) == (clip_id, "review") and h.clip_row(campaign, clip_id).state == "review"
    assert _review_by(campaign, reviewers, ["reject", "reject", "accept"]) == ["pending", "pending", "rework"]
    assert next_write(campaign, bystander) is None  # rework: author
    again = next_write(campaign, author)
    assert (again.clip_id, again.round) == (clip_id, 2)
    assert sorted((f.verdict, f.reason) for f in again.feedback) == [("accept", None), ("reject", "no-sound"),
                                                                     ("reject", "wrong-content")]
    assert {f.reviewer for f in again.feedback} == {None}  # blind: the author never learns who
    assert {f.round for f in again.feedback} == {1}
    save_caption(campaign, author, again.lease, h.GOOD + " A dog barks twice.")
    assert _review_by(campaign, reviewers, ["reject", "accept", "accept"])[-1] == "accepted"  # 1 of 3 is not enough
    row = h.clip_row(campaign, clip_id)
    assert (row.state, row.round) == ("accepted", 2)


def test_first_stage_feedback_names_the_checker_and_max_rounds_go_to_the_host(campaign, h):
    h.configure(campaign, max_rounds=2)
    [clip_id] = h.add_clips(campaign, 1, stage="first")
    author, host, checker = h.person(campaign), h.person(campaign, Role.HOST), h.person(campaign, Role.REVIEWER)
    _, first = _write(campaign, author, h.GOOD)
    assert _review_by(campaign, [checker], ["reject"]) == ["rework"]
    task = next_write(campaign, author)
    assert [f.reviewer for f in task.feedback] == [checker.pseudonym]
    save_caption(campaign, author, task.lease, h.GOOD + " Birds sing.")
    assert _review_by(campaign, [host], ["reject"]) == ["host"]
    assert h.clip_row(campaign, clip_id).state == "host" and next_write(campaign, author) is None
    with pytest.raises(NotAllowed):
        host_decide(campaign, checker, first.caption_id, "accept")
    assert host_decide(campaign, host, first.caption_id, "accept", comment="the first one was right") == "accepted"
    with pytest.raises(HttpError, match="not waiting for the host"):
        host_decide(campaign, host, first.caption_id, "reject", "no-sound")
    with pytest.raises(HttpError, match="no such caption"):
        host_decide(campaign, host, 999_999, "accept")
    with campaign.db.read() as conn:
        assert conn.execute(select(decisions.c.verdict, decisions.c.comment)).all() == [
            ("accept", "the first one was right")]


def test_a_host_reject_drops_the_clip(campaign, h):
    h.configure(campaign, max_rounds=1)
    [clip_id] = h.add_clips(campaign, 1, stage="first")
    author, host = h.person(campaign), h.person(campaign, Role.HOST)
    _, saved = _write(campaign, author, h.GOOD)
    assert _review_by(campaign, [host], ["reject"]) == ["host"]
    assert host_decide(campaign, host, saved.caption_id, "reject", "wrong-content") == "dropped"
    assert h.clip_row(campaign, clip_id).state == "dropped"


def test_rework_by_another_annotator(campaign, h):
    h.configure(campaign, stage_first={"rework": "other"})
    [clip_id] = h.add_clips(campaign, 1, stage="first")
    author, other, host = h.person(campaign), h.person(campaign), h.person(campaign, Role.HOST)
    _write(campaign, author, h.GOOD)
    _review_by(campaign, [host], ["reject"])
    assert next_write(campaign, author) is None
    task = next_write(campaign, other)
    assert (task.clip_id, task.round, [f.reason for f in task.feedback]) == (clip_id, 2, ["no-sound"])


def test_qualification_by_gold_captions_reviewed_by_the_host(campaign, h):
    h.configure(campaign, qualification_min_accepted=2)
    h.add_clips(campaign, 1, stage="first")
    gold = h.add_clips(campaign, 3, stage="training", gold=True, start=100)
    novice, host = h.person(campaign, qualified=False), h.person(campaign, Role.HOST)
    for _ in gold:
        _write(campaign, novice, h.GOOD)
    assert next_write(campaign, novice) is None  # all gold written and under review: nothing else for them
    assert _review_by(campaign, [host], ["reject"]) == ["rework"]
    retry = next_write(campaign, novice)  # the rejected gold clip, again, with its feedback
    assert (retry.clip_id, retry.round, retry.stage) == (gold[0], 2, "training")
    assert [(f.reason, f.reviewer) for f in retry.feedback] == [("no-sound", host.pseudonym)]
    assert _review_by(campaign, [host], ["accept"]) == ["accepted"]
    save_caption(campaign, novice, retry.lease, h.GOOD + " Someone laughs.")
    assert _review_by(campaign, [host], ["accept"]) == ["accepted"]
    task = next_write(campaign, novice)  # two accepted: qualified, campaign clips now
    assert task.stage == "first"
    with campaign.db.read() as conn:
        assert conn.execute(select(audit.c.action).where(audit.c.action == "qualify")).scalars().all() == ["qualify"]


def test_verdicts_and_seconds_are_checked(campaign, h):
    h.add_clips(campaign, 1, stage="first")
    author, host = h.person(campaign), h.person(campaign, Role.HOST)
    _write(campaign, author, h.GOOD)
    task = next_review(campaign, host)
    for verdict, reason, message in [("maybe", None, "verdict: 'maybe' is not accept or reject"),
                                     ("reject", None, "reason: a reject needs one of no-sound"),
                                     ("reject", "ugly", "reason: 'ugly' is not one of")]:
        with pytest.raises(InputError, match=message):
            save_verdict(campaign, host, task.lease, verdict, reason)
    with pytest.raises(InputError, match="comment: at most 2000"):
        save_verdict(campaign, host, task.lease, "accept", comment="x" * 2001)
    with pytest.raises(InputError, match="seconds: expected"):
        save_verdict(campaign, host, task.lease, "accept", seconds=-1)
    assert save_verdict(campaign, host, task.lease, "accept").outcome == "accepted"


def test_every_change_writes_one_audit_row(campaign, h):
    h.add_clips(campaign, 1, stage="first")
    author, host = h.person(campaign), h.person(campaign, Role.HOST)
    task, saved = _write(campaign, author, h.GOOD)
    _review_by(campaign, [host], ["accept"])
    with campaign.db.read() as conn:
        rows = conn.execute(select(audit.c.action, audit.c.user_id, audit.c.subject).order_by(audit.c.id)).all()
    actions = [r.action for r in rows]
    assert actions == ["invite", "join", "invite", "join", "lease-write", "caption", "lease-review", "verdict",
                       "round"]
    assert rows[5] == ("caption", author.id, task.clip_id) and rows[7] == ("verdict", host.id, task.clip_id)


def test_refused_captions_keep_the_lease(campaign, h):
    h.add_clips(campaign, 1, stage="first")
    writer = h.person(campaign)
    task = next_write(campaign, writer)
    with pytest.raises(CaptionRefused, match="3 words, this campaign asks for at least 8"):
        save_caption(campaign, writer, task.lease, "a dog barks")
    assert save_caption(campaign, writer, task.lease, h.GOOD).state == "review"


@pytest.mark.parametrize("text, message", [
    (b"\xff\xfe a caption", "caption: not UTF-8 text"),
    ("word " * 30_000, "caption: 150000 bytes is too large"),
    ("  ... !!! \u3000 ", "caption: empty"),
    ("a man sings", "caption: 3 words"),
    ("word " * 300, "caption: 1499 characters, this campaign allows at most 1000"),
])
def test_check_caption_refusals(campaign, text, message):
    with pytest.raises(CaptionRefused, match=message):
        check_caption(text, campaign.config)


def test_check_caption_keeps_the_text_and_folds_whitespace(campaign):
    text = "Une  femme\tchante\n dans un café, et l’on entend des verres qui s’entrechoquent."
    assert check_caption(text.encode("utf-8"), campaign.config) == (
        "Une femme chante dans un café, et l’on entend des verres qui s’entrechoquent.")
