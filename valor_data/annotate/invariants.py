"""The campaign's promises, checked on its database after the fact: no clip round written by two people, no
caption with more reviews than its stage asks or reviewed by its author, and every write a client was told
was saved (``simulate.Ack``) is in the database. The load benchmark and the durability tests end with these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from valor_data.annotate.schema import captions, clips, review_slots, users
from valor_data.annotate.simulate import Ack
from valor_data.annotate.state import Campaign

C, R = captions.c, review_slots.c


@dataclass(frozen=True)
class Violations:
    two_writers: int  # (clip, stage, round) with more than one caption (gold clips: one per trainee, by design)
    overfull: int  # captions with more decided reviews than their stage's reviewers
    self_reviews: int  # review slots held or decided by the caption's author
    lost: list[Ack]  # acknowledged writes the database does not hold

    @property
    def ok(self) -> bool:
        return not (self.two_writers or self.overfull or self.self_reviews or self.lost)


def check(c: Campaign, acks: Iterable[Ack]) -> Violations:
    with c.db.read() as conn:
        per_round = (select(C.clip_pk).join(clips, clips.c.id == C.clip_pk).where(clips.c.gold.is_(False))
                     .group_by(C.clip_pk, C.stage, C.round).having(func.count() > 1)).subquery()
        two_writers = conn.execute(select(func.count()).select_from(per_round)).scalar()
        decided = (select(C.stage, func.count().label("n")).join(review_slots, R.caption_id == C.id)
                   .where(R.verdict.is_not(None)).group_by(C.id, C.stage)).subquery()
        overfull = sum(conn.execute(select(func.count()).select_from(decided)
                                    .where(decided.c.stage == stage, decided.c.n > cfg.reviewers)).scalar()
                       for stage, cfg in c.config.stages.items())
        self_reviews = conn.execute(select(func.count()).select_from(review_slots)
                                    .join(captions, R.caption_id == C.id)
                                    .where(R.reviewer_id == C.author_id)).scalar()
        saved_captions = {(cid, name, text) for cid, name, text in conn.execute(
            select(C.id, users.c.pseudonym, C.text).join(users, users.c.id == C.author_id))}
        saved_verdicts = {(cid, name, verdict) for cid, name, verdict in conn.execute(
            select(R.caption_id, users.c.pseudonym, R.verdict).join(users, users.c.id == R.reviewer_id)
            .where(R.verdict.is_not(None)))}
        clip_of = dict(conn.execute(select(C.id, clips.c.clip_id).join(clips, clips.c.id == C.clip_pk)).all())
    lost = [a for a in acks
            if (a.caption_id, a.user, a.value) not in (saved_captions if a.kind == "caption" else saved_verdicts)
            or clip_of.get(a.caption_id) != a.clip_id]
    return Violations(int(two_writers), int(overfull), int(self_reviews), lost)
