"""The paper's feedback loop (Sec. 3.2, first stage): the common problems reviewers found, with counts and
the clips they occurred on, for everyone or one annotator, and an annotator's rejected captions with the
verdicts on them, shown next to the clip when they write it again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, union_all

from valor_data.annotate.assign import Feedback, feedback_of
from valor_data.annotate.people import User
from valor_data.annotate.schema import captions, clips, decisions, review_slots
from valor_data.annotate.state import Campaign
from valor_data.annotate.states import CaptionStatus, Verdict

K, C, S, D = clips.c, captions.c, review_slots.c, decisions.c
MAX_CLIP_IDS = 50  # clip ids listed per reason; the count covers all
MAX_FEEDBACK = 200


@dataclass(frozen=True)
class Problem:
    reason: str
    count: int  # rejecting verdicts with this reason (host decisions included)
    clip_ids: list[str]  # the clips they were given on, first MAX_CLIP_IDS


@dataclass(frozen=True)
class RejectedCaption:
    caption_id: int
    clip_id: str
    stage: str
    round: int
    text: str
    clip_state: str
    feedback: list[Feedback]


def common_problems(c: Campaign, user_id: int | None = None) -> list[Problem]:
    """Rejection reasons, most frequent first; ``user_id``: on that annotator's captions only."""
    rejects = union_all(
        select(S.reason, S.caption_id).where(S.verdict == Verdict.REJECT.value),
        select(D.reason, D.caption_id).where(D.verdict == Verdict.REJECT.value)).subquery()
    q = (select(rejects.c.reason, K.clip_id, K.id).select_from(
        rejects.join(captions, C.id == rejects.c.caption_id).join(clips, K.id == C.clip_pk)))
    if user_id is not None:
        q = q.where(C.author_id == user_id)
    counted = q.subquery()
    with c.db.read() as conn:
        counts = conn.execute(select(counted.c.reason, func.count()).group_by(counted.c.reason)).all()
        problems = []
        for reason, n in sorted(counts, key=lambda r: (-r[1], r[0] or "")):
            ids = conn.execute(select(counted.c.clip_id).where(counted.c.reason == reason)
                               .group_by(counted.c.clip_id).order_by(func.min(counted.c.id))
                               .limit(MAX_CLIP_IDS)).scalars().all()
            problems.append(Problem(reason, n, list(ids)))
    return problems


def feedback_for(c: Campaign, user: User) -> list[RejectedCaption]:
    """``user``'s rejected captions, newest first, with the verdicts on them (blind stages unnamed)."""
    with c.db.read() as conn:
        rows = conn.execute(select(C.id, C.stage, C.round, C.text, K.clip_id, K.state)
                            .select_from(captions.join(clips, K.id == C.clip_pk))
                            .where(C.author_id == user.id, C.status == CaptionStatus.REJECTED)
                            .order_by(C.id.desc()).limit(MAX_FEEDBACK)).all()
        return [RejectedCaption(r.id, r.clip_id, r.stage, r.round, r.text, r.state, feedback_of(conn, r.id, r.stage))
                for r in rows]
