"""The campaign dashboard's figures, from the campaign database: what a host watches to steer the campaign.

Progress per stage, captions per annotator-hour (hours = the writing time the pages measured), acceptance
rate, rejection reasons, rounds per caption, seconds per caption, reviewer agreement (Fleiss' kappa over the
second stage's blind panels, each reviewer against the others' majority, see ``agreement``), caption length
and ACD against VALOR-32K (the paper's Table 1 figures, and the same figures measured by this toolkit on the
VALOR-32K captions it ships, so the comparison uses one ACD implementation), and drafted against
free-written captions (does a model draft help, or bias?).

``collect`` reads the database once into plain records; ``dashboard`` computes every figure from them, so
the figures are tested without a database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from statistics import median

from sqlalchemy import select

from valor_data.annotate import status
from valor_data.annotate.agreement import (
    ReviewerAgreement,
    Verdict,
    fleiss_kappa,
    panel_table,
    reviewer_agreement,
)
from valor_data.annotate.schema import captions, clips, review_slots, users
from valor_data.annotate.state import Campaign
from valor_data.annotate.states import ClipState
from valor_data.captions.acd import AcdCounts, matcher_for
from valor_data.inputs import read_annotations
from valor_data.resources import VALOR32K_SPLITS, valor32k_annotation_path

PAPER_VALOR32K = {"acd": 9.1, "avg_len": 19.8}  # the VALOR paper, Table 1
LENGTH_EDGES = (0, 5, 10, 15, 20, 25, 30, 40)  # words; the last bin is open
ACD_EDGES = (0, 0.001, 5, 10, 15, 20, 30)  # percent; [0, 0.001) is "no audio concept"
KAPPA_STAGE = "second"
TRAINING_STAGE = "training"  # qualification captions: not part of the dataset being made


@dataclass(frozen=True)
class CaptionRecord:
    """One written caption, as the dashboard needs it."""

    caption_id: int
    stage: str
    round: int
    author: str
    text: str
    seconds: float | None
    draft_shown: bool
    status: str  # states.CaptionStatus: pending | accepted | rejected


@dataclass(frozen=True)
class VerdictRecord:
    """One decided review slot."""

    caption_id: int
    stage: str
    reviewer: str
    verdict: str  # accept | reject
    reason: str | None
    seconds: float | None


@dataclass(frozen=True)
class Records:
    """Everything ``dashboard`` reads: clip counts per stage and state, captions, verdicts, the rounds
    accepted clips took, and the size of a second-stage panel."""

    progress: dict[str, dict[str, int]]
    captions: list[CaptionRecord]
    verdicts: list[VerdictRecord]
    accepted_rounds: list[int]
    panel_size: int


@dataclass(frozen=True)
class Bin:
    label: str
    count: int
    share: float  # percent of all values


@dataclass(frozen=True)
class TextFigures:
    """Length and ACD of a set of captions, with their histograms."""

    captions: int
    avg_len: float
    acd: float
    length_bins: list[Bin]
    acd_bins: list[Bin]


@dataclass(frozen=True)
class AuthorRate:
    author: str
    captions: int
    hours: float
    per_hour: float | None


@dataclass(frozen=True)
class Acceptance:
    """Captions judged (accepted or rejected) and the share accepted, verdicts given and the share accepts."""

    judged: int
    accepted: int
    rate: float | None
    verdicts: int
    accept_verdicts: int


@dataclass(frozen=True)
class GroupFigures:
    """Drafted or free-written captions: is a draft a help or a bias?"""

    group: str
    captions: int
    avg_len: float
    acd: float
    acceptance: float | None
    median_seconds: float | None


@dataclass(frozen=True)
class Dashboard:
    progress: dict[str, dict[str, int]]
    authors: list[AuthorRate]
    captions_per_hour: float | None
    acceptance: dict[str, Acceptance]
    reasons: dict[str, list[tuple[str, int]]]
    rounds: list[tuple[int, int]]  # (rounds taken, accepted clips)
    seconds: dict[str, dict[str, float | None]]  # stage -> median / p90 seconds per caption, captions timed
    kappa: float | None
    kappa_panels: int
    reviewers: list[ReviewerAgreement]
    text: TextFigures  # the accepted captions of the campaign stages
    reference: TextFigures  # VALOR-32K's captions, measured the same way
    paper_reference: dict[str, float] = field(default_factory=lambda: dict(PAPER_VALOR32K))
    drafts: list[GroupFigures] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def bins(values: Sequence[float], edges: Sequence[float], unit: str = "") -> list[Bin]:
    """Counts of ``values`` in ``[edges[i], edges[i+1])``, the last bin open; shares in percent."""
    counts = [0] * len(edges)
    for v in values:
        i = len(edges) - 1
        while i > 0 and v < edges[i]:
            i -= 1
        counts[i] += 1
    total = len(values) or 1
    labels = [f"{_num(a)}–{_num(b)}{unit}" for a, b in zip(edges, edges[1:], strict=False)] + [f"≥ {_num(edges[-1])}{unit}"]
    return [Bin(label, c, 100.0 * c / total) for label, c in zip(labels, counts, strict=True)]


def _num(x: float) -> str:
    return f"{x:g}"


def text_figures(texts: Sequence[str]) -> TextFigures:
    """Average length in words, corpus ACD (the paper's preset) and the per-caption histograms of both."""
    counts: AcdCounts = matcher_for("paper").count(texts)
    lengths = counts.caption_words.tolist()
    per_caption_acd = [100.0 * c / w if w else 0.0 for c, w in zip(counts.caption_concepts.tolist(), lengths,
                                                                   strict=True)]
    acd_bins = bins(per_caption_acd, ACD_EDGES, " %")
    acd_bins[0] = Bin("no audio concept", acd_bins[0].count, acd_bins[0].share)
    acd_bins[1] = Bin(f"0–{_num(ACD_EDGES[2])} %", acd_bins[1].count, acd_bins[1].share)
    return TextFigures(counts.n_captions, counts.avg_len, counts.acd, bins(lengths, LENGTH_EDGES, " words"), acd_bins)


@cache
def valor32k_figures() -> TextFigures:
    """The same figures on the VALOR-32K captions the toolkit ships (all three splits, ~0.5 s, once)."""
    texts = [c for split in VALOR32K_SPLITS for a in read_annotations(valor32k_annotation_path(split))
             for c in a.captions]
    return text_figures(texts)


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _acceptance(captions: Sequence[CaptionRecord], verdicts: Sequence[VerdictRecord]) -> Acceptance:
    judged = [c for c in captions if c.status in ("accepted", "rejected")]
    accepted = sum(c.status == "accepted" for c in judged)
    return Acceptance(len(judged), accepted, accepted / len(judged) if judged else None, len(verdicts),
                      sum(v.verdict == "accept" for v in verdicts))


def _authors(captions: Sequence[CaptionRecord]) -> tuple[list[AuthorRate], float | None]:
    n: Counter = Counter()
    seconds: Counter = Counter()
    for c in captions:
        n[c.author] += 1
        seconds[c.author] += c.seconds or 0.0
    rates = [AuthorRate(a, k, seconds[a] / 3600, k * 3600 / seconds[a] if seconds[a] else None)
             for a, k in n.most_common()]
    total = sum(seconds.values())
    return rates, (sum(n.values()) * 3600 / total if total else None)


def _drafts(captions: Sequence[CaptionRecord]) -> list[GroupFigures]:
    out = []
    for group, shown in (("drafted", True), ("free-written", False)):
        part = [c for c in captions if c.draft_shown == shown]
        if not part:
            continue
        fig = text_figures([c.text for c in part])
        acc = _acceptance(part, [])
        secs = [c.seconds for c in part if c.seconds is not None]
        out.append(GroupFigures(group, len(part), fig.avg_len, fig.acd, acc.rate, median(secs) if secs else None))
    return out


def collect(c: Campaign) -> Records:
    """The campaign's clips per stage and state, its captions and decided review slots, in one read."""
    K, C, S = clips.c, captions.c, review_slots.c
    authors, reviewers = users.alias("authors"), users.alias("reviewers")
    progress = {stage: dict(figures["clips"]) for stage, figures in status.progress(c)["stages"].items()}
    with c.db.read() as conn:
        caption_rows = [CaptionRecord(r.id, r.stage, r.round, r.pseudonym, r.text, r.seconds, bool(r.draft_shown),
                                      r.status)
                        for r in conn.execute(select(C.id, C.stage, C.round, authors.c.pseudonym, C.text, C.seconds,
                                                     C.draft_shown, C.status)
                                              .join(authors, authors.c.id == C.author_id).order_by(C.id))]
        verdict_rows = [VerdictRecord(r.caption_id, r.stage, r.pseudonym, r.verdict, r.reason, r.seconds)
                        for r in conn.execute(select(S.caption_id, C.stage, reviewers.c.pseudonym, S.verdict,
                                                     S.reason, S.seconds)
                                              .join(captions, C.id == S.caption_id)
                                              .join(reviewers, reviewers.c.id == S.reviewer_id)
                                              .where(S.verdict.is_not(None)).order_by(S.id))]
        rounds = [int(r) for r in conn.execute(select(K.round).where(K.state == ClipState.ACCEPTED.value,
                                                                     K.gold.is_(False))).scalars()]
    second = c.config.stages.get(KAPPA_STAGE)
    return Records(progress, caption_rows, verdict_rows, rounds, second.reviewers if second else 0)


def dashboard(records: Records) -> Dashboard:
    """Every figure of the dashboard page (and of ``GET /api/v1/dashboard``) from ``records``."""
    stages = list(records.progress) or sorted({c.stage for c in records.captions})
    captions_by_stage: dict[str, list[CaptionRecord]] = defaultdict(list)
    verdicts_by_stage: dict[str, list[VerdictRecord]] = defaultdict(list)
    for c in records.captions:
        captions_by_stage[c.stage].append(c)
    for v in records.verdicts:
        verdicts_by_stage[v.stage].append(v)
    authors, per_hour = _authors(records.captions)
    reasons = {s: Counter(v.reason or "(none)" for v in verdicts_by_stage[s] if v.verdict == "reject").most_common()
               for s in stages}
    seconds = {}
    for s in stages:
        secs = [c.seconds for c in captions_by_stage[s] if c.seconds is not None]
        seconds[s] = {"median": median(secs) if secs else None, "p90": _percentile(secs, 0.9), "n": len(secs)}
    panel = [Verdict(v.caption_id, v.reviewer, v.verdict) for v in verdicts_by_stage[KAPPA_STAGE]]
    table = panel_table(panel, records.panel_size)
    final = [c for c in records.captions if c.status == "accepted" and c.stage != TRAINING_STAGE]
    return Dashboard(
        progress=records.progress,
        authors=authors,
        captions_per_hour=per_hour,
        acceptance={s: _acceptance(captions_by_stage[s], verdicts_by_stage[s]) for s in stages},
        reasons=reasons,
        rounds=sorted(Counter(records.accepted_rounds).items()),
        seconds=seconds,
        kappa=fleiss_kappa(table) if records.panel_size >= 2 else None,
        kappa_panels=len(table),
        reviewers=reviewer_agreement(panel),
        text=text_figures([c.text for c in final]),
        reference=valor32k_figures(),
        drafts=_drafts(records.captions),
    )
