"""Who gets which clip and which caption, on SQLite and PostgreSQL: one writer per clip and exactly N
distinct reviewers per caption (never its author) with threads claiming at once, the qualification gate,
held leases given back, expired leases returned, and a restart that keeps every lease."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

from valor_data.annotate.assign import LeaseLost, lease_media, next_review, next_write, release
from valor_data.annotate.people import NotAllowed
from valor_data.annotate.schema import audit, captions, review_slots
from valor_data.annotate.state import Campaign
from valor_data.annotate.states import Role
from valor_data.annotate.work import save_caption, save_verdict

N_CLIPS, N_WRITERS, N_REVIEWERS = 24, 6, 6


def _threads(n: int, target) -> None:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            target(i)
        except BaseException as e:  # surfaced below: a thread's failure fails the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_each_clip_has_one_writer_under_concurrency(campaign, h):
    ids = h.add_clips(campaign, N_CLIPS, stage="first")
    writers = [h.person(campaign) for _ in range(N_WRITERS)]
    taken: list[tuple[str, int]] = []

    def write(i: int) -> None:
        while (task := next_write(campaign, writers[i])) is not None:
            taken.append((task.clip_id, writers[i].id))
            save_caption(campaign, writers[i], task.lease, h.GOOD, seconds=3)

    _threads(N_WRITERS, write)
    assert sorted(cid for cid, _ in taken) == ids  # every clip exactly once
    with campaign.db.read() as conn:
        per_clip = Counter(conn.execute(select(captions.c.clip_pk)).scalars())
    assert set(per_clip.values()) == {1} and len(per_clip) == N_CLIPS
    assert len({u for _, u in taken}) > 1  # the writers really raced


def test_exactly_n_distinct_reviewers_never_the_author_under_concurrency(campaign, h):
    h.add_clips(campaign, 8, stage="second")
    author = h.person(campaign)
    while (task := next_write(campaign, author)) is not None:
        save_caption(campaign, author, task.lease, h.GOOD)
    reviewers = [h.person(campaign, Role.REVIEWER if i % 2 else Role.ANNOTATOR) for i in range(N_REVIEWERS)]

    def review(i: int) -> None:
        while (task := next_review(campaign, reviewers[i])) is not None:
            save_verdict(campaign, reviewers[i], task.lease, "accept", seconds=1)

    _threads(N_REVIEWERS, review)
    assert next_review(campaign, author) is None  # only their own captions are left: never theirs
    with campaign.db.read() as conn:
        rows = conn.execute(select(review_slots.c.caption_id, review_slots.c.reviewer_id, review_slots.c.verdict,
                                   captions.c.author_id, captions.c.status)
                            .join(captions, captions.c.id == review_slots.c.caption_id)).all()
    by_caption = defaultdict(list)
    for r in rows:
        by_caption[r.caption_id].append(r)
    assert len(by_caption) == 8
    for slots in by_caption.values():
        assert len(slots) == 3 and all(s.verdict == "accept" for s in slots)
        assert len({s.reviewer_id for s in slots}) == 3 and author.id not in {s.reviewer_id for s in slots}
        assert slots[0].status == "accepted"


def test_unqualified_annotators_get_only_gold_clips_once_each(campaign, h):
    h.configure(campaign, qualification_min_accepted=2)
    h.add_clips(campaign, 3, stage="first")
    gold = h.add_clips(campaign, 2, stage="training", gold=True, start=100)
    novices = [h.person(campaign, qualified=False) for _ in range(2)]
    for novice in novices:  # every novice writes every gold clip: the clips are not shared out
        seen = []
        while (task := next_write(campaign, novice)) is not None:
            assert task.stage == "training" and task.round == 1
            seen.append(task.clip_id)
            save_caption(campaign, novice, task.lease, h.GOOD)
        assert seen == gold
    with pytest.raises(NotAllowed, match="once they are qualified"):
        next_review(campaign, novices[0])
    assert next_review(campaign, h.person(campaign, Role.REVIEWER)) is None  # the host alone reviews gold
    assert next_review(campaign, h.person(campaign, Role.HOST)).stage == "training"
    assert h.clip_row(campaign, gold[0]).state == "open"  # a gold clip stays open for the next novice


def test_a_held_lease_comes_back_instead_of_a_second_one(campaign, h):
    h.add_clips(campaign, 3, stage="first")
    writer = h.person(campaign)
    first = next_write(campaign, writer)
    assert next_write(campaign, writer).lease == first.lease
    author = h.person(campaign)
    task = next_write(campaign, author)
    save_caption(campaign, author, task.lease, h.GOOD)
    host = h.person(campaign, Role.HOST)
    review = next_review(campaign, host)
    assert next_review(campaign, host).lease == review.lease


def test_expired_leases_return_the_clip_and_the_review_slot(campaign, h):
    h.configure(campaign, lease_minutes=0.5 / 60)
    h.add_clips(campaign, 1, stage="first")
    slow, quick = h.person(campaign), h.person(campaign)
    lost = next_write(campaign, slow)
    assert next_write(campaign, quick) is None
    time.sleep(0.7)
    task = next_write(campaign, quick)
    assert task.clip_id == lost.clip_id and task.lease != lost.lease
    with pytest.raises(LeaseLost):
        save_caption(campaign, slow, lost.lease, h.GOOD)
    save_caption(campaign, quick, task.lease, h.GOOD)
    host_a, host_b = h.person(campaign, Role.HOST), h.person(campaign, Role.HOST)
    dropped = next_review(campaign, host_a)
    assert next_review(campaign, host_b) is None
    time.sleep(0.7)
    review = next_review(campaign, host_b)
    assert review.caption_id == dropped.caption_id
    with pytest.raises(LeaseLost):
        save_verdict(campaign, host_a, dropped.lease, "accept")
    assert save_verdict(campaign, host_b, review.lease, "accept").outcome == "accepted"


def test_an_expired_lease_nobody_took_still_saves(campaign, h):
    h.configure(campaign, lease_minutes=0.2 / 60)
    h.add_clips(campaign, 1, stage="first")
    writer = h.person(campaign)
    task = next_write(campaign, writer)
    time.sleep(0.4)
    assert save_caption(campaign, writer, task.lease, h.GOOD).state == "review"


def test_release_gives_the_clip_back_and_media_only_to_the_holder(campaign, h):
    h.add_clips(campaign, 1, stage="first")
    a, b = h.person(campaign), h.person(campaign)
    task = next_write(campaign, a)
    assert lease_media(campaign, a, task.lease) == {"kind": "files", "video": "/v.mp4", "audio": "/a.flac"}
    assert lease_media(campaign, b, task.lease) is None and lease_media(campaign, a, "guess") is None
    assert release(campaign, a, task.lease) and not release(campaign, a, task.lease)
    assert lease_media(campaign, a, task.lease) is None
    assert next_write(campaign, b).clip_id == task.clip_id


def test_roles_that_do_not_write_are_refused(campaign, h):
    with pytest.raises(NotAllowed, match="only annotators write"):
        next_write(campaign, h.person(campaign, Role.REVIEWER))
    with pytest.raises(NotAllowed):
        next_write(campaign, h.person(campaign, Role.HOST))


def test_a_restart_keeps_every_lease_caption_and_round(campaign, h):
    h.add_clips(campaign, 4, stage="first")
    writer, host = h.person(campaign), h.person(campaign, Role.HOST)
    done = next_write(campaign, writer)
    save_caption(campaign, writer, done.lease, h.GOOD)
    review = next_review(campaign, host)
    save_verdict(campaign, host, review.lease, "reject", "no-sound", "what do we hear?")
    held = next_write(campaign, writer)  # the rejected clip comes back to its author, round 2
    assert held.clip_id == done.clip_id and held.round == 2
    with campaign.db.read() as conn:
        before = conn.execute(select(func.count()).select_from(audit)).scalar()
    again = Campaign.open(campaign.directory, campaign.db.url)
    try:
        task = next_write(again, writer)
        assert (task.lease, task.round, task.clip_id) == (held.lease, 2, held.clip_id)
        assert [(f.verdict, f.reason, f.comment) for f in task.feedback] == [("reject", "no-sound",
                                                                            "what do we hear?")]
        save_caption(again, writer, task.lease, h.GOOD + " A drum plays.")
        with again.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(captions)).scalar() == 2
            assert conn.execute(select(func.count()).select_from(audit)).scalar() == before + 1
    finally:
        again.close()


def test_one_persons_requests_at_once_get_one_lease(campaign, h):
    h.add_clips(campaign, 10, stage="first")
    h.add_clips(campaign, 3, stage="training", gold=True, start=100)
    writer, novice, author = h.person(campaign), h.person(campaign, qualified=False), h.person(campaign)
    for _ in range(3):
        save_caption(campaign, author, next_write(campaign, author).lease, h.GOOD)
    host = h.person(campaign, Role.HOST)
    for ask, who in ((next_write, writer), (next_write, novice), (next_review, host)):
        leases: list[str] = []
        _threads(6, lambda _, ask=ask, who=who, leases=leases: leases.append(ask(campaign, who).lease))
        assert len(set(leases)) == 1, (ask.__name__, who.role)


def test_an_expired_rework_lease_goes_back_to_its_author_only(campaign, h):
    h.configure(campaign, lease_minutes=0.3 / 60)
    [clip_id] = h.add_clips(campaign, 1, stage="first")
    author, other, host = h.person(campaign), h.person(campaign), h.person(campaign, Role.HOST)
    save_caption(campaign, author, next_write(campaign, author).lease, h.GOOD)
    save_verdict(campaign, host, next_review(campaign, host).lease, "reject", "no-sound")
    h.add_clips(campaign, 1, stage="first", start=50)
    abandoned = next_write(campaign, author)  # their own rework comes before any open clip
    assert (abandoned.clip_id, abandoned.round) == (clip_id, 2)
    time.sleep(0.5)
    assert next_write(campaign, other).clip_id != clip_id  # expired, but the rework is the author's
    again = next_write(campaign, author)
    assert (again.clip_id, again.round) == (clip_id, 2) and again.lease != abandoned.lease
