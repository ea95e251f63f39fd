"""Who gets which clip to write and which caption to review: leases on the database clock, claimed through
the web kit's ``leases.claim`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).

- A clip has one writing lease at a time: its row holds it. An expired lease returns the clip to whoever
  may write it next (a closed tab gives the clip back after ``lease_minutes``).
- A rejected caption is rewritten by its author, or by any other qualified annotator when the stage says
  ``rework: other``.
- An unqualified annotator gets only gold clips, each once (a rejected gold caption may be written again);
  every unqualified annotator writes every gold clip, so their holds live in ``training_leases``.
- A caption's review slots go to people of the stage's reviewer roles, never its author, and never two to
  one person (``UNIQUE(caption_id, reviewer_id)``): exactly ``reviewers`` distinct people, however many
  claim at once. Reviewers do not see each other's verdicts.
- Whoever still holds an unexpired lease gets it back instead of a second one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, delete, exists, false, func, or_, select, true, update
from sqlalchemy.engine import Row

from valor_data.annotate.people import NotAllowed, User, get_user
from valor_data.annotate.schema import captions, clips, review_slots, training_leases, users
from valor_data.annotate.state import Campaign, record
from valor_data.annotate.states import STAGES, CaptionStatus, ClipState, Role
from valor_data.web.errors import HttpError
from valor_data.web.leases import claim, new_lease_token

K, C, S, T = clips.c, captions.c, review_slots.c, training_leases.c
BLIND_STAGES = ("second",)  # authors never learn who reviewed them here


class LeaseLost(HttpError):
    """The lease is not (or no longer) the asker's: it expired and another person took the clip or slot."""

    def __init__(self, message: str = "this lease is not yours any more (it expired and was taken, or was "
                                      "released): ask for the next clip"):
        super().__init__(409, message)


@dataclass(frozen=True)
class Feedback:
    """One verdict on a rejected caption, as its author (or the next writer) sees it."""

    round: int
    verdict: str
    reason: str | None
    comment: str | None
    reviewer: str | None  # pseudonym; None in a blind stage
    at: float | None


@dataclass(frozen=True)
class WriteTask:
    lease: str
    clip_id: str
    clip_pk: int
    stage: str
    round: int
    labels: list[str]
    draft: str | None  # a model's caption to edit, when the campaign shows drafts
    feedback: list[Feedback]  # the verdicts on the clip's rejected caption of the previous round
    expires: float


@dataclass(frozen=True)
class ReviewTask:
    lease: str
    caption_id: int
    clip_id: str
    clip_pk: int
    stage: str
    round: int
    text: str
    labels: list[str]
    expires: float


# --------------------------------------------------------------------------------------------- reading
def feedback_of(conn: Connection, caption_id: int, stage: str) -> list[Feedback]:
    """The decided verdicts on one caption, reviewers named unless the stage is blind."""
    rows = conn.execute(select(S.verdict, S.reason, S.comment, S.decided_at, users.c.pseudonym, C.round)
                        .select_from(review_slots.join(captions, C.id == S.caption_id)
                                     .outerjoin(users, users.c.id == S.reviewer_id))
                        .where(S.caption_id == caption_id, S.verdict.is_not(None)).order_by(S.slot))
    return [Feedback(r.round, r.verdict, r.reason, r.comment, None if stage in BLIND_STAGES else r.pseudonym,
                     r.decided_at) for r in rows]


def _last_rejected(conn: Connection, clip_pk: int, author_id: int | None = None) -> Row | None:
    q = select(C.id, C.stage).where(C.clip_pk == clip_pk, C.status == CaptionStatus.REJECTED)
    if author_id is not None:
        q = q.where(C.author_id == author_id)
    return conn.execute(q.order_by(C.round.desc(), C.id.desc()).limit(1)).first()


def _write_task(c: Campaign, conn: Connection, clip: Row, lease: str, expires: float, round_: int,
                author_id: int | None = None) -> WriteTask:
    rejected = _last_rejected(conn, clip.id, author_id) if round_ > 1 else None
    draft = clip.draft if c.config.drafts else None
    return WriteTask(lease, clip.clip_id, clip.id, clip.stage, round_, json.loads(clip.labels), draft,
                     feedback_of(conn, rejected.id, rejected.stage) if rejected else [], expires)


def _review_task(conn: Connection, slot_id: int) -> ReviewTask:
    r = conn.execute(select(S.lease_token, S.lease_expires, C.id.label("caption_id"), C.text, C.round, C.stage,
                            K.clip_id, K.id.label("clip_pk"), K.labels)
                     .select_from(review_slots.join(captions, C.id == S.caption_id).join(clips, K.id == C.clip_pk))
                     .where(S.id == slot_id)).one()
    return ReviewTask(r.lease_token, r.caption_id, r.clip_id, r.clip_pk, r.stage, r.round, r.text,
                      json.loads(r.labels), r.lease_expires)


def _held_again(c: Campaign, conn: Connection, user: User, held: Callable) -> WriteTask | ReviewTask | None:
    """Inside a claim: lock the person's row, then look for a lease they hold. Two requests of one person at
    once (a double click) are serialised here, so the second gets the first's lease instead of another."""
    conn.execute(select(users.c.id).where(users.c.id == user.id).with_for_update())
    return held(c, conn, user)


def _held_after_all(c: Campaign, user: User, held: Callable) -> WriteTask | ReviewTask | None:
    """Nothing was free: but on PostgreSQL a row another request of this person was claiming is skipped,
    not waited for. Once the person's row lock is ours, that claim has committed: return what it took."""
    with c.db.write() as conn:
        return _held_again(c, conn, user, held)


# --------------------------------------------------------------------------------------------- writing
def _gold_round(conn: Connection, clip_pk: int, user_id: int) -> int:
    return 1 + conn.execute(select(func.count()).where(C.clip_pk == clip_pk, C.author_id == user_id)).scalar()


def _held_write(c: Campaign, conn: Connection, user: User) -> WriteTask | None:
    now = c.db.now()
    clip = conn.execute(select(clips).where(K.writer_id == user.id, K.state == ClipState.WRITING,
                                            K.lease_expires > now).limit(1)).first()
    if clip is not None:
        return _write_task(c, conn, clip, clip.lease_token, clip.lease_expires, clip.round)
    held = conn.execute(select(T.clip_pk, T.lease_token, T.lease_expires)
                        .where(T.user_id == user.id, T.lease_expires > now).limit(1)).first()
    if held is None:
        return None
    clip = conn.execute(select(clips).where(K.id == held.clip_pk)).one()
    return _write_task(c, conn, clip, held.lease_token, held.lease_expires, _gold_round(conn, clip.id, user.id),
                       user.id)


def _stages_where(c: Campaign, rework: str) -> list[str]:
    return [s for s in STAGES if s != "training" and c.config.stages[s].rework == rework]


def _write_candidates(c: Campaign, user_id: int) -> list:
    """The queries a qualified annotator's next clip comes from, most urgent first: the small queues (their
    own rework, expired leases, others' rework) in one query, ordered by urgency, then the open clips.

    One query for the small queues rather than one each: every query is a transaction of its own (the
    claim's), and most of the time those queues are empty."""
    now = c.db.now()
    by_author, by_other = _stages_where(c, "author"), _stages_where(c, "other")
    may_rewrite = or_(and_(K.stage.in_(by_author), K.author_id == user_id),
                      and_(K.stage.in_(by_other), K.author_id != user_id))
    own_rework = and_(K.state == ClipState.REWORK, K.stage.in_(by_author), K.author_id == user_id)
    expired = and_(K.state == ClipState.WRITING, K.lease_expires < now, or_(K.round == 1, may_rewrite))
    other_rework = and_(K.state == ClipState.REWORK, K.stage.in_(by_other), K.author_id != user_id)
    urgent = (select(K.id).where(K.gold == false(), K.state.in_([ClipState.REWORK, ClipState.WRITING]),
                                 or_(own_rework, expired, other_rework))
              .order_by(case((own_rework, 0), (expired, 1), else_=2), K.id).limit(1))
    return [urgent, select(K.id).where(K.gold == false(), K.state == ClipState.OPEN).order_by(K.id).limit(1)]


def next_write(c: Campaign, user: User) -> WriteTask | None:
    """The clip ``user`` writes next (the one they hold, if any); None when there is nothing for them."""
    if user.role != Role.ANNOTATOR:
        raise NotAllowed("only annotators write captions")
    with c.db.read() as conn:
        user = get_user(conn, user.id)  # qualification may have changed since the caller looked
        held = _held_write(c, conn, user)
    if held is not None:
        return held
    if not user.qualified:
        return _next_gold(c, user)
    seconds = c.config.lease_seconds

    def take(conn: Connection, row: Row) -> WriteTask:
        held = _held_again(c, conn, user, _held_write)
        if held is not None:
            return held
        token = new_lease_token()
        clip = conn.execute(update(clips).where(K.id == row.id).values(
            state=ClipState.WRITING, writer_id=user.id, lease_token=token, lease_expires=c.db.now() + seconds,
            updated_at=c.db.now()).returning(*clips.c)).one()
        record(conn, c, user.id, "lease-write", clip.clip_id, round=clip.round)
        return _write_task(c, conn, clip, token, clip.lease_expires, clip.round)

    for candidate in _write_candidates(c, user.id):
        task = claim(c.db, candidate, take, lock=clips)
        if task is not None:
            return task
    return _held_after_all(c, user, _held_write)


def _next_gold(c: Campaign, user: User) -> WriteTask | None:
    """A gold clip this unqualified annotator has no pending or accepted caption on."""
    done = exists().where(C.clip_pk == K.id, C.author_id == user.id,
                          C.status.in_([CaptionStatus.PENDING, CaptionStatus.ACCEPTED]))
    candidate = select(clips).where(K.gold == true(), ~done).order_by(K.id).limit(1)
    with c.db.write() as conn:  # the person's row lock (below) serialises their claims of gold clips
        held = _held_again(c, conn, user, _held_write)
        if held is not None:
            return held
        clip = conn.execute(candidate).first()
        if clip is None:
            return None
        token = new_lease_token()
        conn.execute(delete(training_leases).where(T.clip_pk == clip.id, T.user_id == user.id))
        conn.execute(training_leases.insert().values(clip_pk=clip.id, user_id=user.id, lease_token=token,
                                                     lease_expires=c.db.now() + c.config.lease_seconds))
        expires = conn.execute(select(T.lease_expires).where(T.lease_token == token)).scalar()
        round_ = _gold_round(conn, clip.id, user.id)
        record(conn, c, user.id, "lease-write", clip.clip_id, round=round_, gold=True)
        return _write_task(c, conn, clip, token, expires, round_, user.id)


# --------------------------------------------------------------------------------------------- reviewing
def _held_review(c: Campaign, conn: Connection, user: User) -> ReviewTask | None:
    held = conn.execute(select(S.id).where(S.reviewer_id == user.id, S.verdict.is_(None),
                                           S.lease_expires > c.db.now()).limit(1)).scalar()
    return _review_task(conn, held) if held is not None else None


def review_stages(c: Campaign, user: User) -> list[str]:
    """The stages whose captions ``user`` may review (none for an annotator still in training)."""
    if user.role == Role.ANNOTATOR and not user.qualified:
        return []
    return [s for s in STAGES if user.role.value in c.config.stages[s].reviewer_roles]


def next_review(c: Campaign, user: User) -> ReviewTask | None:
    """The caption ``user`` reviews next (the one they hold, if any); None when there is nothing for them."""
    with c.db.read() as conn:
        user = get_user(conn, user.id)
        stages = review_stages(c, user)
        if not stages:
            raise NotAllowed("your role does not review captions" if user.role != Role.ANNOTATOR else
                             "annotators review once they are qualified")
        held = _held_review(c, conn, user)
        if held is not None:
            return held
    other = review_slots.alias("other")
    already = exists().where(other.c.caption_id == S.caption_id, other.c.reviewer_id == user.id,
                             other.c.id != S.id)
    candidate = (select(S.id).select_from(review_slots.join(captions, C.id == S.caption_id))
                 .where(S.verdict.is_(None), or_(S.reviewer_id.is_(None), S.lease_expires < c.db.now()),
                        C.status == CaptionStatus.PENDING, C.stage.in_(stages), C.author_id != user.id, ~already)
                 .order_by(S.id).limit(1))
    seconds = c.config.lease_seconds

    def take(conn: Connection, row: Row) -> ReviewTask:
        held = _held_again(c, conn, user, _held_review)
        if held is not None:
            return held
        conn.execute(update(review_slots).where(S.id == row.id).values(
            reviewer_id=user.id, lease_token=new_lease_token(), lease_expires=c.db.now() + seconds))
        task = _review_task(conn, row.id)
        record(conn, c, user.id, "lease-review", task.clip_id, caption=task.caption_id)
        return task

    return claim(c.db, candidate, take, lock=review_slots) or _held_after_all(c, user, _held_review)


# --------------------------------------------------------------------------------------------- leases
def release(c: Campaign, user: User, lease: str) -> bool:
    """Give a held clip or review back at once (the page was closed on purpose); False: not held."""
    with c.db.write() as conn:
        clip = conn.execute(select(K.clip_id).where(K.lease_token == lease, K.writer_id == user.id,
                                                    K.state == ClipState.WRITING)).first()
        if clip is not None:
            conn.execute(update(clips).where(K.lease_token == lease).values(
                state=case((K.round > 1, ClipState.REWORK), else_=ClipState.OPEN), lease_token=None,
                lease_expires=None, updated_at=c.db.now()))
            record(conn, c, user.id, "release", clip.clip_id)
            return True
        if conn.execute(delete(training_leases).where(T.lease_token == lease, T.user_id == user.id)).rowcount:
            record(conn, c, user.id, "release", None, gold=True)
            return True
        slot = conn.execute(update(review_slots).where(S.lease_token == lease, S.reviewer_id == user.id,
                                                       S.verdict.is_(None))
                            .values(reviewer_id=None, lease_token=None, lease_expires=None))
        if slot.rowcount:
            record(conn, c, user.id, "release", None, review=True)
            return True
    return False


def lease_media(c: Campaign, user: User, lease: str) -> dict | None:
    """The media of the clip ``lease`` holds, if ``user`` holds it unexpired (writing or reviewing); else None.

    The media route serves only this: nobody fetches a clip they were not given.
    """
    with c.db.read() as conn:
        now = conn.execute(select(c.db.now())).scalar()
        media = conn.execute(select(K.media).where(K.lease_token == lease, K.writer_id == user.id,
                                                   K.state == ClipState.WRITING, K.lease_expires > now)).scalar()
        if media is None:
            media = conn.execute(select(K.media).select_from(training_leases.join(clips, K.id == T.clip_pk))
                                 .where(T.lease_token == lease, T.user_id == user.id, T.lease_expires > now)).scalar()
        if media is None:
            media = conn.execute(select(K.media).select_from(
                review_slots.join(captions, C.id == S.caption_id).join(clips, K.id == C.clip_pk))
                .where(S.lease_token == lease, S.reviewer_id == user.id, S.verdict.is_(None),
                       S.lease_expires > now)).scalar()
    return json.loads(media) if media is not None else None
