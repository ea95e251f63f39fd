"""Scoring a validated submission: one :class:`Evaluation` shape for both tasks, used by ``evaluate``
and ``submit``.

JSON shape (``Evaluation.as_json``)::

    AVC: {"task": "avc", "split": ..., "n": clips, "coverage": {...}, "metrics": {"BLEU-1".."BLEU-4",
          "METEOR", "ROUGE-L", "CIDEr"[, "SPICE"]}, "notes": [...], "breakdown": {...}}
    AVR: {"task": "avr", "split": ..., "n": clips, "n_text": captions, "coverage": {...},
          "metrics": {"t2v": {"R@1", "R@5", "R@10", "MdR", "MnR"}, "v2t": {...} | null},
          "metrics_dsl": {"t2v": ..., "v2t": ...} | null, "lower_bounds": ["t2v.MnR", ...],
          "notes": [...], "breakdown": {...}}
    coverage: {"scored": clips scored, "split_clips": clips in the split, "share": 0-1, "percent": 0.1 %,
               "digest": sha256 of the available set | null (full coverage), "partial": bool}

``v2t`` is null for a ranking-JSON submission (it only ranks videos for texts); ``lower_bounds`` names
the metrics that censored ranking lists only bound from below. A partial result (``--available``) also
has a note saying what the restriction does to the task's numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from valor_bench.avc import score_captions
from valor_bench.avr import DEFAULT_BLOCK_BYTES, matrix_ranks, ranking_ranks, summarize
from valor_bench.breakdown import breakdown, label_columns
from valor_bench.coverage import Coverage, partial_note
from valor_bench.formats import AvcSubmission, AvrMatrixSubmission, AvrRankingSubmission
from valor_bench.ground_truth import GroundTruth
from valor_bench.validate import Validation

AVC_PER_SAMPLE = ["BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]


@dataclass
class Evaluation:
    task: str
    split: str
    n: int
    metrics: dict
    per_sample: pd.DataFrame
    breakdown: dict
    n_text: int | None = None
    metrics_dsl: dict | None = None
    lower_bounds: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    coverage: Coverage | None = None  # None: full coverage of the n clips (set in __post_init__)

    def __post_init__(self) -> None:
        if self.coverage is None:
            self.coverage = Coverage.full(self.n)

    def as_json(self) -> dict:
        out: dict = {"task": self.task, "split": self.split, "n": self.n}
        if self.task == "avr":
            out["n_text"] = self.n_text
        out["coverage"] = self.coverage.as_json()
        out["metrics"] = self.metrics
        if self.task == "avr":
            out["metrics_dsl"] = self.metrics_dsl
            out["lower_bounds"] = self.lower_bounds
        out["notes"] = self.notes
        out["breakdown"] = self.breakdown
        return out

    def scores(self) -> dict:
        """What the leaderboard stores."""
        return {"metrics": self.metrics, "metrics_dsl": self.metrics_dsl, "lower_bounds": self.lower_bounds,
                "coverage": self.coverage.as_json()}


def _notes(task: str, gt: GroundTruth, *more: list[str]) -> list[str]:
    notes = [partial_note(task, gt.coverage, gt.available_from)] if gt.coverage.partial else []
    for extra in (gt.notes, *more):
        notes += [n for n in extra if n not in notes]
    return notes


def evaluate_avc(sub: AvcSubmission, gt: GroundTruth, *, spice: bool | None = None, parallel: bool = True,
                 stage: Callable[[str], None] | None = None, meteor=None, workdir: Path | None = None) -> Evaluation:
    """Caption metrics over the clips of ``gt`` (restricted by ``--available``: over those clips only).

    ``meteor``, ``workdir``: see :func:`score_captions`.
    """
    hyps = {e.video_id: e.caption for e in sub.entries}
    refs = {v: list(gt.captions[v]) for v in gt.video_ids}
    scores = score_captions(refs, {v: hyps[v] for v in gt.video_ids}, spice=spice, parallel=parallel, stage=stage,
                            meteor=meteor, workdir=workdir)
    frame = pd.DataFrame({
        "video_id": gt.video_ids,
        "caption": [hyps[v] for v in gt.video_ids],
        "references": [list(gt.captions[v]) for v in gt.video_ids],
        **scores.per_sample,
        **label_columns(gt.video_ids, gt),
    })
    metrics_cols = [m for m in [*AVC_PER_SAMPLE, "SPICE"] if m in scores.per_sample]
    return Evaluation("avc", gt.split, gt.n_clips, scores.metrics, frame, breakdown(frame, metrics_cols),
                      notes=_notes("avc", gt, scores.notes), coverage=gt.coverage)


def _avr_frame(gt: GroundTruth, direction: str, query_ids: list[str], captions: list[str | None],
               targets: list[str], ranks: np.ndarray, censored: np.ndarray,
               ranks_dsl: np.ndarray | None) -> pd.DataFrame:
    return pd.DataFrame({
        "direction": direction,
        "query_id": query_ids,
        "caption": captions,
        "video_id": targets,
        "rank": ranks.astype(np.int64),
        "censored": censored,
        "rank_dsl": pd.array(ranks_dsl if ranks_dsl is not None else [None] * len(ranks), dtype="Int64"),
        **label_columns(targets, gt),
    })


def evaluate_avr(sub: AvrMatrixSubmission | AvrRankingSubmission, gt: GroundTruth, *,
                 dsl_scale: float | None = None, block_bytes: int = DEFAULT_BLOCK_BYTES,
                 progress: Callable[[int], None] | None = None) -> Evaluation:
    text_ids, text_video = gt.text_ids(), gt.text_video()
    captions = [c for v in gt.video_ids for c in gt.captions[v]]
    index = gt.text_index()
    notes = _notes("avr", gt)
    metrics_dsl = None
    lower: list[str] = []
    if isinstance(sub, AvrMatrixSubmission):
        notes += sub.notes
        col = {v: j for j, v in enumerate(sub.video_ids)}
        sub_rows = [index[t] for t in sub.text_ids]  # submission row -> canonical text
        ranks = matrix_ranks(sub.sim, np.array([col[text_video[i]] for i in sub_rows]), dsl_scale=dsl_scale,
                             block_bytes=block_bytes, progress=progress)
        order = np.empty(len(sub_rows), dtype=np.int64)
        order[np.array(sub_rows, dtype=np.int64)] = np.arange(len(sub_rows))  # canonical -> submission row
        cols = np.array([col[v] for v in gt.video_ids])
        t2v, v2t = ranks.t2v[order], ranks.v2t[cols]
        no_cens_t, no_cens_v = np.zeros(len(t2v), bool), np.zeros(len(v2t), bool)
        metrics = {"t2v": summarize(t2v).metrics, "v2t": summarize(v2t).metrics}
        frames = [
            _avr_frame(gt, "t2v", text_ids, captions, text_video, t2v, no_cens_t,
                       None if ranks.t2v_dsl is None else ranks.t2v_dsl[order]),
            _avr_frame(gt, "v2t", gt.video_ids, [None] * gt.n_clips, gt.video_ids, v2t, no_cens_v,
                       None if ranks.v2t_dsl is None else ranks.v2t_dsl[cols]),
        ]
        if dsl_scale is not None:
            metrics_dsl = {"t2v": summarize(ranks.t2v_dsl[order]).metrics,
                           "v2t": summarize(ranks.v2t_dsl[cols]).metrics, "scale": dsl_scale}
    else:
        if dsl_scale is not None:
            raise ValueError("--dsl needs a similarity matrix (.npz): a ranking JSON has no scores to re-weight")
        by_text = {index[k]: ranking for k, ranking in sub.rankings.items()}
        t2v, censored = ranking_ranks([by_text[i] for i in range(len(text_ids))], text_video)
        summary = summarize(t2v, censored)
        metrics = {"t2v": summary.metrics, "v2t": None}
        lower = [f"t2v.{m}" for m in summary.lower_bounds]
        frames = [_avr_frame(gt, "t2v", text_ids, captions, text_video, t2v, censored, None)]
    frame = pd.concat(frames, ignore_index=True)
    t2v_rows = frame[frame["direction"] == "t2v"].reset_index(drop=True)
    return Evaluation("avr", gt.split, gt.n_clips, metrics, frame, breakdown(t2v_rows, None), n_text=len(text_ids),
                      metrics_dsl=metrics_dsl, lower_bounds=lower, notes=notes, coverage=gt.coverage)


def evaluate_validated(validation: Validation, gt: GroundTruth, *, dsl_scale: float | None = None,
                       spice: bool | None = None, stage: Callable[[str], None] | None = None,
                       progress: Callable[[int], None] | None = None, meteor=None,
                       workdir: Path | None = None) -> Evaluation:
    """Score a submission that :func:`validate_submission` passed (raises ValueError otherwise).

    ``gt`` must be the ground truth it was validated against (restricted by ``available=`` for a partial
    submission); the result's ``coverage`` is the ground truth's.
    """
    if not validation.ok or validation.submission is None:
        raise ValueError(f"{validation.path} did not pass validation: {len(validation.problems)} problems")
    if validation.task == "avc":
        if dsl_scale is not None:
            raise ValueError("--dsl applies to AVR similarity matrices only")
        result = evaluate_avc(validation.submission, gt, spice=spice, stage=stage, meteor=meteor, workdir=workdir)
    else:
        result = evaluate_avr(validation.submission, gt, dsl_scale=dsl_scale, progress=progress)
    result.notes = validation.notes + [n for n in result.notes if n not in validation.notes]
    return result
