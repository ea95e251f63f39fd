"""How far reviewers agree: Fleiss' kappa over the blind panels of the second stage, and each reviewer's
agreement with the others on the captions they judged together.

Fleiss' kappa (Fleiss 1971) takes a table of subjects x categories, each cell the number of raters who put
that subject in that category, the same number of raters on every subject: kappa = (P - Pe) / (1 - Pe),
P the mean share of agreeing rater pairs per subject, Pe the agreement expected from the category shares.

A reviewer's agreement is measured against the majority of the *other* reviewers of each caption (a
caption where the others split is skipped): counting the reviewer in their own majority would inflate it.
A reviewer who accepts (nearly) everything, including captions the others rejected, is flagged: that is
the reviewer who lets bad captions through while their agreement can still look fine on a good campaign.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ACCEPT, REJECT = "accept", "reject"
ACCEPTS_EVERYTHING = 0.98  # share of accepts from which a reviewer is flagged...
MIN_VERDICTS_TO_FLAG = 10  # ...once they have given at least this many verdicts


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of a subjects x categories count table; None when it is undefined (no subject, or every
    rating in one category so that chance agreement is 1). Refuses rows with different rater counts."""
    rows = [list(map(int, r)) for r in table]
    if not rows:
        return None
    n = sum(rows[0])
    if n < 2 or any(sum(r) != n for r in rows) or any(v < 0 for r in rows for v in r):
        raise ValueError(f"Fleiss' kappa needs the same number (>= 2) of raters on every subject, got row sums "
                         f"{sorted({sum(r) for r in rows})}")
    subjects = len(rows)
    p_bar = sum((sum(v * v for v in r) - n) / (n * (n - 1)) for r in rows) / subjects
    shares = [sum(col) / (subjects * n) for col in zip(*rows, strict=True)]
    p_e = sum(s * s for s in shares)
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1 - p_e)


@dataclass(frozen=True)
class Verdict:
    """One decided review slot: the caption, who judged it and how."""

    caption_id: int
    reviewer: str
    verdict: str


def panel_table(verdicts: Iterable[Verdict], panel_size: int) -> list[list[int]]:
    """The (accepts, rejects) count rows of the captions that have exactly ``panel_size`` verdicts."""
    by_caption: dict[int, list[str]] = defaultdict(list)
    for v in verdicts:
        by_caption[v.caption_id].append(v.verdict)
    return [[vs.count(ACCEPT), vs.count(REJECT)] for vs in by_caption.values() if len(vs) == panel_size]


@dataclass(frozen=True)
class ReviewerAgreement:
    reviewer: str
    verdicts: int
    accept_share: float
    compared: int  # captions where the other reviewers had a majority
    agreement: float | None  # share of those where this reviewer sided with it
    accepted_others_rejected: int  # captions this reviewer accepted and the others' majority rejected
    accepts_everything: bool


def reviewer_agreement(verdicts: Iterable[Verdict]) -> list[ReviewerAgreement]:
    """Each reviewer's agreement with the others' majority, most verdicts first."""
    by_caption: dict[int, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        by_caption[v.caption_id].append(v)
    given: Counter = Counter()
    accepts: Counter = Counter()
    compared: Counter = Counter()
    agreed: Counter = Counter()
    let_through: Counter = Counter()
    for panel in by_caption.values():
        for v in panel:
            given[v.reviewer] += 1
            accepts[v.reviewer] += v.verdict == ACCEPT
            others = Counter(o.verdict for o in panel if o is not v)
            if not others or others[ACCEPT] == others[REJECT]:
                continue
            majority = ACCEPT if others[ACCEPT] > others[REJECT] else REJECT
            compared[v.reviewer] += 1
            agreed[v.reviewer] += v.verdict == majority
            let_through[v.reviewer] += v.verdict == ACCEPT and majority == REJECT
    out = []
    for reviewer, n in given.most_common():
        share = accepts[reviewer] / n
        out.append(ReviewerAgreement(
            reviewer, n, share, compared[reviewer],
            agreed[reviewer] / compared[reviewer] if compared[reviewer] else None, let_through[reviewer],
            n >= MIN_VERDICTS_TO_FLAG and share >= ACCEPTS_EVERYTHING and let_through[reviewer] > 0))
    return out
