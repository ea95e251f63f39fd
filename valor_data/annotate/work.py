"""What a saved caption, a verdict and a host decision do to a clip, each in one transaction with its audit
row, committed before the function returns (an acknowledged save is on disk).

The round rule: once a caption has its stage's ``reviewers`` verdicts, more than ``reject_when_more_than``
rejects reject it. A rejected caption sends its clip to ``rework`` for the next round, or to the host once
``max_rounds`` captions were rejected; otherwise caption and clip are accepted. A gold caption's verdict
touches no clip: the annotator may write that gold clip again, and is qualified once the host accepted
``qualification_min_accepted`` of their gold captions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.engine import Row

from valor_data.annotate.assign import LeaseLost
from valor_data.annotate.drafts import word_edit_distance
from valor_data.annotate.people import User, require_host
from valor_data.annotate.rules import check_caption
from valor_data.annotate.schema import captions, clips, decisions, review_slots, training_leases, users
from valor_data.annotate.state import Campaign, record
from valor_data.annotate.states import CaptionStatus, ClipState, Verdict
from valor_data.web.errors import HttpError, InputError

K, C, S, T = clips.c, captions.c, review_slots.c, training_leases.c
MAX_COMMENT = 2000
MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class SavedCaption:
    caption_id: int
    clip_id: str
    state: str  # the clip's state after the save: "review"


@dataclass(frozen=True)
class SavedVerdict:
    caption_id: int
    outcome: str  # "pending" (verdicts missing) | "accepted" | "rework" | "host"


def _seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_SECONDS:
        raise InputError(f"seconds: expected a number of seconds between 0 and {MAX_SECONDS:.0f}, got {value!r}")
    return float(value)


def _held_clip(conn: Connection, user: User, lease: str) -> tuple[Row, bool]:
    """The clip ``lease`` holds for ``user`` and whether it is a gold (training) hold; :class:`LeaseLost` if none.

    A lease past its expiry still saves while nobody else took the clip: the writer's work is kept.
    """
    clip = conn.execute(select(clips).where(K.lease_token == lease, K.writer_id == user.id,
                                            K.state == ClipState.WRITING).with_for_update()).first()
    if clip is not None:
        return clip, False
    pk = conn.execute(select(T.clip_pk).where(T.lease_token == lease, T.user_id == user.id)).scalar()
    if pk is None:
        raise LeaseLost()
    return conn.execute(select(clips).where(K.id == pk)).one(), True


def save_caption(c: Campaign, user: User, lease: str, text: str | bytes, seconds: float | None = None,
                 draft_shown: bool | None = None) -> SavedCaption:
    """Save the caption of the clip ``lease`` holds and open its review slots.

    ``draft_shown`` None: the draft was shown if the campaign shows drafts and the clip has one.
    """
    text = check_caption(text, c.config)
    seconds = _seconds(seconds)
    with c.db.write() as conn:
        clip, gold = _held_clip(conn, user, lease)
        draft = clip.draft if c.config.drafts else None
        shown = bool(draft) if draft_shown is None else bool(draft_shown and draft)
        stage = "training" if gold else clip.stage
        round_ = clip.round
        if gold:
            round_ = 1 + conn.execute(select(func.count()).where(C.clip_pk == clip.id, C.author_id == user.id)).scalar()
        caption_id = conn.execute(insert(captions).values(
            clip_pk=clip.id, stage=stage, round=round_, author_id=user.id, text=text,
            created_at=select(c.db.now()).scalar_subquery(), seconds=seconds, draft_shown=shown,
            draft_edit_words=word_edit_distance(draft, text) if shown else None,
            status=CaptionStatus.PENDING)).inserted_primary_key[0]
        conn.execute(insert(review_slots), [{"caption_id": caption_id, "slot": i}
                                            for i in range(c.config.stages[stage].reviewers)])
        if gold:
            conn.execute(training_leases.delete().where(T.lease_token == lease))
        else:
            conn.execute(update(clips).where(K.id == clip.id).values(
                state=ClipState.REVIEW, author_id=user.id, lease_token=None, lease_expires=None,
                updated_at=c.db.now()))
        record(conn, c, user.id, "caption", clip.clip_id, caption=caption_id, round=round_, stage=stage,
               seconds=seconds, draft_shown=shown)
    return SavedCaption(caption_id, clip.clip_id, ClipState.REVIEW.value)


def _check_verdict(c: Campaign, verdict: str, reason: str | None, comment: str | None) -> tuple[Verdict, str | None,
                                                                                                 str | None]:
    try:
        verdict = Verdict(verdict)
    except ValueError:
        raise InputError(f"verdict: {verdict!r} is not accept or reject") from None
    reason = (reason or "").strip() or None
    if verdict == Verdict.REJECT and reason is None:
        raise InputError(f"reason: a reject needs one of {', '.join(c.config.rejection_reasons)}")
    if reason is not None and reason not in c.config.rejection_reasons:
        raise InputError(f"reason: {reason!r} is not one of {', '.join(c.config.rejection_reasons)}")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InputError(f"comment: at most {MAX_COMMENT} characters (got {len(comment)})")
    return verdict, reason, comment


def save_verdict(c: Campaign, user: User, lease: str, verdict: str, reason: str | None = None,
                 comment: str | None = None, seconds: float | None = None) -> SavedVerdict:
    """Record ``user``'s verdict on the caption ``lease`` holds; the last verdict applies the round rule."""
    verdict, reason, comment = _check_verdict(c, verdict, reason, comment)
    seconds = _seconds(seconds)
    with c.db.write() as conn:
        caption_id = conn.execute(select(S.caption_id).where(S.lease_token == lease, S.reviewer_id == user.id,
                                                             S.verdict.is_(None))).scalar()
        if caption_id is None:
            raise LeaseLost()
        # the caption's row lock serialises its verdicts: exactly one of them sees the last one in
        caption = conn.execute(select(captions).where(C.id == caption_id).with_for_update()).one()
        conn.execute(update(review_slots).where(S.lease_token == lease, S.reviewer_id == user.id).values(
            verdict=verdict.value, reason=reason, comment=comment, decided_at=c.db.now(), seconds=seconds,
            lease_token=None, lease_expires=None))
        clip = conn.execute(select(clips).where(K.id == caption.clip_pk).with_for_update()).one()
        record(conn, c, user.id, "verdict", clip.clip_id, caption=caption_id, verdict=verdict.value,
               reason=reason, seconds=seconds)
        outcome = _apply_round_rule(c, conn, caption, clip)
    return SavedVerdict(caption_id, outcome)


def _apply_round_rule(c: Campaign, conn: Connection, caption: Row, clip: Row) -> str:
    stage = c.config.stages[caption.stage]
    counts = dict(conn.execute(select(S.verdict, func.count()).where(S.caption_id == caption.id,
                                                                     S.verdict.is_not(None)).group_by(S.verdict)).all())
    if sum(counts.values()) < stage.reviewers:
        return "pending"
    rejected = counts.get(Verdict.REJECT.value, 0) > stage.reject_when_more_than
    status = CaptionStatus.REJECTED if rejected else CaptionStatus.ACCEPTED
    conn.execute(update(captions).where(C.id == caption.id).values(status=status))
    if caption.stage == "training":
        if not rejected:
            _maybe_qualify(c, conn, caption.author_id)
        outcome = "rework" if rejected else "accepted"
    elif not rejected:
        conn.execute(update(clips).where(K.id == clip.id).values(state=ClipState.ACCEPTED, updated_at=c.db.now()))
        outcome = "accepted"
    elif clip.round >= c.config.max_rounds:
        conn.execute(update(clips).where(K.id == clip.id).values(state=ClipState.HOST, updated_at=c.db.now()))
        outcome = "host"
    else:
        conn.execute(update(clips).where(K.id == clip.id).values(state=ClipState.REWORK, round=clip.round + 1,
                                                                 updated_at=c.db.now()))
        outcome = "rework"
    record(conn, c, None, "round", clip.clip_id, caption=caption.id, outcome=outcome, round=caption.round,
           rejects=counts.get(Verdict.REJECT.value, 0))
    return outcome


def _maybe_qualify(c: Campaign, conn: Connection, user_id: int) -> None:
    accepted = conn.execute(select(func.count()).where(C.author_id == user_id, C.stage == "training",
                                                       C.status == CaptionStatus.ACCEPTED)).scalar()
    if accepted >= c.config.qualification_min_accepted:
        done = conn.execute(update(users).where(users.c.id == user_id, users.c.qualified.is_(False))
                            .values(qualified=True))
        if done.rowcount:
            record(conn, c, None, "qualify", None, user=user_id, gold_accepted=accepted)


def host_decide(c: Campaign, host: User, caption_id: int, verdict: str, reason: str | None = None,
                comment: str | None = None) -> str:
    """The host's word on a clip whose rounds ran out: accept ``caption_id`` (any of the clip's captions), or
    reject, which drops the clip from the export. Returns the clip's new state."""
    require_host(host)
    verdict, reason, comment = _check_verdict(c, verdict, reason, comment)
    with c.db.write() as conn:
        caption = conn.execute(select(captions).where(C.id == caption_id)).first()
        if caption is None:
            raise HttpError(404, f"caption {caption_id}: no such caption")
        clip = conn.execute(select(clips).where(K.id == caption.clip_pk).with_for_update()).one()
        if clip.state != ClipState.HOST:
            raise HttpError(409, f"clip {clip.clip_id} is {clip.state}, not waiting for the host")
        state = ClipState.ACCEPTED if verdict == Verdict.ACCEPT else ClipState.DROPPED
        if verdict == Verdict.ACCEPT:
            conn.execute(update(captions).where(C.id == caption_id).values(status=CaptionStatus.ACCEPTED))
        conn.execute(update(clips).where(K.id == clip.id).values(state=state, updated_at=c.db.now()))
        conn.execute(insert(decisions).values(caption_id=caption_id, clip_pk=clip.id, host_id=host.id,
                                              verdict=verdict.value, reason=reason, comment=comment,
                                              at=select(c.db.now()).scalar_subquery()))
        record(conn, c, host.id, "decide", clip.clip_id, caption=caption_id, verdict=verdict.value, reason=reason)
    return state.value
