"""Where a campaign stands, for ``annotate status`` and the host's page: per stage, clips per state,
captions per status and verdicts given; people per role."""

from __future__ import annotations

from sqlalchemy import func, select

from valor_data.annotate.schema import captions, clips, review_slots, users
from valor_data.annotate.state import Campaign
from valor_data.annotate.states import STAGES

K, C, S = clips.c, captions.c, review_slots.c


def progress(c: Campaign) -> dict:
    """``{"stages": {stage: {"clips": {state: n}, "captions": {status: n}, "verdicts": {verdict: n}}},
    "people": {role: n}}`` (gold clips stay ``open``: their progress is in their captions)."""
    stages: dict = {s: {"clips": {}, "captions": {}, "verdicts": {}} for s in STAGES}
    with c.db.read() as conn:
        for stage, state, n in conn.execute(select(K.stage, K.state, func.count()).group_by(K.stage, K.state)):
            stages[stage]["clips"][state] = n
        for stage, status, n in conn.execute(select(C.stage, C.status, func.count()).group_by(C.stage, C.status)):
            stages[stage]["captions"][status] = n
        for stage, verdict, n in conn.execute(
                select(C.stage, S.verdict, func.count()).select_from(review_slots.join(captions, C.id == S.caption_id))
                .where(S.verdict.is_not(None)).group_by(C.stage, S.verdict)):
            stages[stage]["verdicts"][verdict] = n
        people = dict(conn.execute(select(users.c.role, func.count()).group_by(users.c.role)).all())
    return {"campaign": c.config.name, "stages": stages, "people": people}
