"""What the pages and the API both read: the hints of a text on a clip, the host's queue and people, the
audit log, an invite's role, and a held clip's media as one MP4.

Reads only; every change goes through the campaign core (``assign``, ``work``, ``people``), which writes
its audit row in the same transaction.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from valor_data.annotate.assign import lease_media
from valor_data.annotate.export import export
from valor_data.annotate.hints import Hints, hints
from valor_data.annotate.people import User
from valor_data.annotate.schema import audit, captions, clips, invites, review_slots, training_leases, users
from valor_data.annotate.states import CaptionStatus, ClipState, Role
from valor_data.annotate.web.media import MediaError, parse_media
from valor_data.annotate.web.routing import WebState
from valor_data.web.errors import HttpError
from valor_data.web.tokens import hash_secret

K, C, U, T, S = clips.c, captions.c, users.c, training_leases.c, review_slots.c
NEIGHBOURS = 50  # the author's latest captions a text is compared with (near copies)
AUDIT_ROWS = 500
log = logging.getLogger("valor_data.annotate.web")


@dataclass(frozen=True)
class Segment:
    """A run of the typed text, ``concept`` set when it is an audio concept (highlighted)."""

    text: str
    concept: str | None = None


def segments(text: str, found: Hints) -> list[Segment]:
    out, at = [], 0
    for c in found.concepts:
        if c.start < at:  # overlapping concepts ("dog", "dog bark"): the first one is marked
            continue
        out += [Segment(text[at:c.start]), Segment(text[c.start:c.end], c.concept)]
        at = c.end
    return [s for s in [*out, Segment(text[at:])] if s.text]


def leased_clip(state: WebState, user: User, lease: str) -> tuple[int, list[str]] | None:
    """The clip (primary key, labels) that ``user`` holds for writing under ``lease``; None when not theirs."""
    with state.campaign.db.read() as conn:
        row = conn.execute(select(K.id, K.labels).where(K.lease_token == lease, K.writer_id == user.id)).first()
        if row is None:
            row = conn.execute(select(K.id, K.labels).select_from(training_leases.join(clips, K.id == T.clip_pk))
                               .where(T.lease_token == lease, T.user_id == user.id)).first()
    return None if row is None else (row.id, json.loads(row.labels))


def author_captions(state: WebState, author_id: int, except_clip: int | None) -> dict[str, str]:
    """The author's latest captions by clip id, the clip being written left out."""
    q = (select(K.clip_id, C.text).select_from(captions.join(clips, K.id == C.clip_pk))
         .where(C.author_id == author_id).order_by(C.id.desc()).limit(NEIGHBOURS))
    if except_clip is not None:
        q = q.where(C.clip_pk != except_clip)
    with state.campaign.db.read() as conn:
        rows = conn.execute(q).all()
    return {r.clip_id: r.text for r in reversed(rows)}


def hints_for(state: WebState, text: str, labels: list[str], author_id: int, clip_pk: int | None) -> Hints:
    return hints(text, labels, state.matcher, author_captions(state, author_id, clip_pk))


def caption_author(state: WebState, caption_id: int) -> int:
    with state.campaign.db.read() as conn:
        return conn.execute(select(C.author_id).where(C.id == caption_id)).scalar_one()


def invite_role(state: WebState, invite: str) -> str:
    """The role an unused invite makes; HttpError 404 for an unknown or used one."""
    with state.campaign.db.read() as conn:
        row = conn.execute(select(invites.c.role, invites.c.used_at)
                           .where(invites.c.token_hash == hash_secret(invite))).first()
    if row is None or row.used_at is not None:
        raise HttpError(404, "this invite link is unknown or was already used: ask the host for a new one")
    return row.role


@dataclass(frozen=True)
class Decision:
    """A clip waiting for the host: its latest caption and that caption's verdicts (reviewers named)."""

    clip_id: str
    stage: str
    round: int
    caption_id: int
    text: str
    verdicts: list[dict]


def verdicts_of(conn, caption_id: int) -> list[dict]:
    """A caption's decided verdicts with their reviewers' pseudonyms (for the host, who sees everything)."""
    rows = conn.execute(select(U.pseudonym, S.verdict, S.reason, S.comment)
                        .select_from(review_slots.outerjoin(users, U.id == S.reviewer_id))
                        .where(S.caption_id == caption_id, S.verdict.is_not(None)).order_by(S.slot))
    return [{"reviewer": r.pseudonym, "verdict": r.verdict, "reason": r.reason, "comment": r.comment} for r in rows]


def host_queue(state: WebState, limit: int = 200) -> list[Decision]:
    with state.campaign.db.read() as conn:
        latest = select(C.clip_pk, func.max(C.id).label("caption_id")).group_by(C.clip_pk).subquery()
        rows = conn.execute(select(K.clip_id, K.stage, K.round, C.id, C.text)
                            .select_from(clips.join(latest, latest.c.clip_pk == K.id)
                                         .join(captions, C.id == latest.c.caption_id))
                            .where(K.state == ClipState.HOST).order_by(K.updated_at, K.id).limit(limit)).all()
        return [Decision(r.clip_id, r.stage, r.round, r.id, r.text, verdicts_of(conn, r.id)) for r in rows]


def people(state: WebState) -> list[dict]:
    """Everyone, with how many of their gold (training) captions the host accepted."""
    gold = (select(C.author_id, func.count().label("n")).where(C.stage == "training",
                                                                C.status == CaptionStatus.ACCEPTED)
            .group_by(C.author_id).subquery())
    with state.campaign.db.read() as conn:
        rows = conn.execute(select(U.id, U.pseudonym, U.role, U.qualified, gold.c.n)
                            .select_from(users.outerjoin(gold, gold.c.author_id == U.id)).order_by(U.id)).all()
    return [{"id": r.id, "pseudonym": r.pseudonym, "role": r.role, "qualified": bool(r.qualified),
             "gold_accepted": r.n or 0} for r in rows]


def gold_accepted(state: WebState, user: User) -> int:
    with state.campaign.db.read() as conn:
        return conn.execute(select(func.count()).where(C.author_id == user.id, C.stage == "training",
                                                       C.status == CaptionStatus.ACCEPTED)).scalar()


def invite_counts(state: WebState) -> list[dict]:
    with state.campaign.db.read() as conn:
        rows = conn.execute(select(invites.c.role, func.count().label("made"),
                                   func.count(invites.c.used_at).label("used")).group_by(invites.c.role)).all()
    return [{"role": r.role, "made": r.made, "used": r.used} for r in sorted(rows, key=lambda r: r.role)]


def audit_rows(state: WebState, limit: int = AUDIT_ROWS) -> list[dict]:
    with state.campaign.db.read() as conn:
        rows = conn.execute(select(audit, U.pseudonym).select_from(audit.outerjoin(users, U.id == audit.c.user_id))
                            .order_by(audit.c.id.desc()).limit(limit)).all()
    return [{"id": r.id, "at": r.at, "who": r.pseudonym, "action": r.action, "subject": r.subject,
             "detail": r.detail} for r in rows]


def prefetch_clip(state: WebState, user: User, lease: str) -> None:
    """Start remuxing the clip of a page being served, so the player finds it ready."""
    spec = lease_media(state.campaign, user, lease)
    if spec is not None:
        try:
            state.media.prefetch(parse_media(spec))
        except MediaError:
            pass  # the player's request gets the refusal, logged there


def clip_mp4(state: WebState, user: User, lease: str) -> bytes:
    """The MP4 of the clip ``user`` holds under ``lease``. Any other lease (someone else's, expired, made up)
    is the same 404, so ids cannot be probed."""
    spec = lease_media(state.campaign, user, lease)
    if spec is None:
        raise HttpError(404, "no clip of yours under this lease (it expired or was given back)")
    try:
        return state.media.get(parse_media(spec))
    except MediaError as e:
        log.error("media of lease %s: %s", lease, e)
        raise HttpError(502, "this clip's media cannot be read; the server log says why") from None


def roles_for_invites() -> list[str]:
    return [r.value for r in Role]


def export_zip(state: WebState, host: User) -> bytes:
    """The campaign's export (``desc_{split}.json`` and ``provenance.parquet``) as one zip."""
    with tempfile.TemporaryDirectory(prefix="valor-export-") as tmp:
        export(state.campaign, Path(tmp), by=host)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(tmp).as_posix())
        return buf.getvalue()
