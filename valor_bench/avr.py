"""AVR retrieval metrics: ranks from a score matrix (chunked) or a ranking list, then R@K / MdR / MnR.

Rank rule (deterministic and pessimistic): the rank of a query's target is
``1 + the number of other gallery items whose score is >= the target's score``. A tie therefore never
improves a rank: a matrix of all-equal scores gives every query the worst rank (the gallery size), and
there is exactly one rank per query (the CLIP4Clip tie bug, which emits one rank per tied item, cannot
happen).

Several captions per video: text-to-video (t2v) makes every caption a query whose target is its video;
video-to-text (v2t) ranks, for each video, its best-scoring caption among all texts, ignoring the video's
other captions (rank = 1 + number of *other videos'* captions scoring >= that best caption). A video with
no caption is a t2v distractor and not a v2t query.

Dual softmax (``dsl_scale``, e.g. 100): re-scores with a prior over the other axis, as in CAMoE / DSL:
t2v uses ``S * softmax(scale * S, over texts)``, v2t ``S * softmax(scale * S, over videos)``. Reported
under its own key; the raw numbers are always computed too.

Memory: the matrix is visited in row blocks twice (once for each query's target score, t2v ranks and the
softmax statistics, once for v2t counts), so only one block plus O(n_text + n_video) vectors are held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from valor_bench.formats import SimMatrix
from valor_bench.metrics import RECALL_KS

DEFAULT_BLOCK_BYTES = 32 * 1024**2


@dataclass
class MatrixRanks:
    t2v: np.ndarray  # [n_text] rank of each text's video
    v2t: np.ndarray  # [n_video] rank of each video's best caption; 0 = not a query (no caption)
    t2v_dsl: np.ndarray | None = None
    v2t_dsl: np.ndarray | None = None


def _col_prior(x: np.ndarray, scale: float, colmax: np.ndarray, colsum: np.ndarray) -> np.ndarray:
    return x * (np.exp(scale * x - colmax) / colsum)


def _row_prior(x: np.ndarray, scale: float, rowmax: np.ndarray, rowsum: np.ndarray) -> np.ndarray:
    return x * (np.exp(scale * x - rowmax[:, None]) / rowsum[:, None])


def matrix_ranks(sim: SimMatrix, text_video: np.ndarray, *, dsl_scale: float | None = None,
                 block_bytes: int = DEFAULT_BLOCK_BYTES,
                 progress: Callable[[int], None] | None = None) -> MatrixRanks:
    """Ranks for every text (t2v) and video (v2t). ``text_video[i]`` is the column of text ``i``'s video.

    ``progress(rows)`` is called after each block of each pass (2 passes over ``sim.n_rows`` rows).
    """
    n_text, n_video = sim.shape
    text_video = np.asarray(text_video, dtype=np.int64)
    if text_video.shape != (n_text,) or (n_text and (text_video.min() < 0 or text_video.max() >= n_video)):
        raise ValueError("text_video must give a column index in [0, n_video) for every row of sim")
    dsl = dsl_scale is not None
    if dsl:
        block_bytes = max(1, block_bytes // 4)  # float64 temporaries of the re-scored blocks
    t2v = np.zeros(n_text, dtype=np.int64)
    diag = np.empty(n_text, dtype=sim.dtype)
    if dsl:
        colmax = np.full(n_video, -np.inf)
        colsum = np.zeros(n_video)
        rowmax = np.empty(n_text)
        rowsum = np.empty(n_text)

    # Pass 1: target scores, raw t2v ranks, softmax statistics.
    for start, block in sim.blocks(block_bytes):
        rows = slice(start, start + len(block))
        ar = np.arange(len(block))
        target = block[ar, text_video[rows]]
        t2v[rows] = (block >= target[:, None]).sum(axis=1)  # counts the target itself: 1 + others >=
        diag[rows] = target
        if dsl:
            x = block.astype(np.float64) * dsl_scale
            new_max = np.maximum(colmax, x.max(axis=0))
            colsum = colsum * np.exp(colmax - new_max) + np.exp(x - new_max).sum(axis=0)
            colmax = new_max
            rowmax[rows] = x.max(axis=1)
            rowsum[rows] = np.exp(x - rowmax[rows, None]).sum(axis=1)
        if progress:
            progress(len(block))

    has_caption = np.bincount(text_video, minlength=n_video) > 0
    # Each video's best caption score; +inf for a video without captions, so it counts nothing.
    best = np.where(has_caption, -np.inf, np.inf).astype(sim.dtype)
    np.maximum.at(best, text_video, diag)
    v2t_count = np.zeros(n_video, dtype=np.int64)
    if dsl:
        diag_dsl = _row_prior(diag[:, None].astype(np.float64), dsl_scale, rowmax, rowsum)[:, 0]
        best_dsl = np.where(has_caption, -np.inf, np.inf)
        np.maximum.at(best_dsl, text_video, diag_dsl)
        t2v_dsl = np.zeros(n_text, dtype=np.int64)
        v2t_dsl_count = np.zeros(n_video, dtype=np.int64)

    # Pass 2: v2t counts (need every video's best caption score), re-scored t2v ranks.
    for start, block in sim.blocks(block_bytes):
        rows = slice(start, start + len(block))
        ar = np.arange(len(block))
        own = text_video[rows]
        ge = block >= best[None, :]
        ge[ar, own] = False  # a video's own captions never compete with it
        v2t_count += ge.sum(axis=0)
        if dsl:
            x = block.astype(np.float64)
            d = _col_prior(x, dsl_scale, colmax, colsum)
            target = d[ar, own]
            t2v_dsl[rows] = (d >= target[:, None]).sum(axis=1)
            d = _row_prior(x, dsl_scale, rowmax[rows], rowsum[rows])
            ge = d >= best_dsl[None, :]
            ge[ar, own] = False
            v2t_dsl_count += ge.sum(axis=0)
        if progress:
            progress(len(block))

    v2t = np.where(has_caption, v2t_count + 1, 0)
    out = MatrixRanks(t2v, v2t)
    if dsl:
        out.t2v_dsl = t2v_dsl
        out.v2t_dsl = np.where(has_caption, v2t_dsl_count + 1, 0)
    return out


def ranking_ranks(rankings: list[list[str]], targets: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Ranks from top-K lists: the target's 1-based position, or ``K + 1`` when it is not in the list.

    Returns ``(ranks, censored)``; a censored rank is only known to be ``>= K + 1``.
    """
    ranks = np.empty(len(targets), dtype=np.int64)
    censored = np.zeros(len(targets), dtype=bool)
    for i, (ranking, target) in enumerate(zip(rankings, targets, strict=True)):
        try:
            ranks[i] = ranking.index(target) + 1
        except ValueError:
            ranks[i] = len(ranking) + 1
            censored[i] = True
    return ranks, censored


@dataclass
class RankSummary:
    metrics: dict[str, float]  # R@1, R@5, R@10 (%), MdR, MnR
    lower_bounds: list[str]  # metric names that are only lower bounds (censored ranking lists)


def summarize(ranks: np.ndarray, censored: np.ndarray | None = None) -> RankSummary:
    """R@K in percent and median / mean rank, rounded to 2 decimals. ``ranks`` must all be >= 1."""
    ranks = np.asarray(ranks, dtype=np.int64)
    if ranks.size == 0:
        raise ValueError("no queries to summarize")
    metrics = {f"R@{k}": round(float((ranks <= k).mean() * 100), 2) for k in RECALL_KS}
    metrics["MdR"] = round(float(np.median(ranks)), 2)
    metrics["MnR"] = round(float(ranks.mean()), 2)
    lower: list[str] = []
    if censored is not None and censored.any():
        # A censored rank is really >= its value: the median is exact only if it cannot move.
        if float(np.median(np.where(censored, np.inf, ranks))) != float(np.median(ranks)):
            lower.append("MdR")
        lower.append("MnR")
    return RankSummary(metrics, lower)
