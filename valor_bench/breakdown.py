"""Per-sample tables and their breakdown by AudioSet audio class.

Every per-sample row carries its clip's AudioSet labels (mids and names) and their top-level ontology
categories ("Music", "Human sounds", ...). Scores are then aggregated per top-level category and for the
most frequent labels: a clip with several labels counts in each of its groups, and clips without
AudioSet labels form the group ``(no AudioSet labels)``.

AVC groups report the mean of the per-sample scores (x100); for CIDEr and ROUGE-L that mean over all
clips is the headline number, for BLEU and METEOR (corpus-level statistics) it is not. AVR groups report
R@K / MdR / MnR of the text-to-video queries whose target clip is in the group.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from valor_bench.avr import summarize
from valor_bench.ground_truth import GroundTruth
from valor_data.ontology import load_ontology

NO_LABELS = "(no AudioSet labels)"
TOP_LABELS = 10


def label_columns(video_ids: list[str], gt: GroundTruth) -> dict[str, list[list[str]]]:
    """``labels``, ``label_names`` and ``top_level`` list columns for the given clips."""
    onto = load_ontology()
    cache: dict[str, tuple[list[str], list[str], list[str]]] = {}
    labels, names, tops = [], [], []
    for vid in video_ids:
        if vid not in cache:
            mids = list(gt.labels.get(vid, ()))
            top = sorted({t for m in mids for t in onto.top_level(m)})
            cache[vid] = (mids, [onto.name(m) for m in mids], top)
        mids, label_names, top = cache[vid]
        labels.append(mids)
        names.append(label_names)
        tops.append(top)
    return {"labels": labels, "label_names": names, "top_level": tops}


def write_parquet(frame: pd.DataFrame, path: str | Path, attrs: dict | None = None) -> Path:
    """Write ``frame``; ``attrs`` (e.g. the result's coverage) travel in the file as ``DataFrame.attrs``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if attrs:
        frame = frame.copy(deep=False)
        frame.attrs = {**frame.attrs, **attrs}
    frame.to_parquet(path, index=False)
    return path


def _groups(frame: pd.DataFrame, column: str) -> dict[str, pd.Index]:
    out: dict[str, list[int]] = {}
    for idx, values in zip(frame.index, frame[column], strict=True):
        for value in values if len(values) else [NO_LABELS]:
            out.setdefault(value, []).append(idx)
    return {k: pd.Index(v) for k, v in out.items()}


def _aggregate(frame: pd.DataFrame, rows: pd.Index, metrics: list[str] | None) -> dict[str, float]:
    part = frame.loc[rows]
    if metrics is None:  # AVR: ranks
        return summarize(part["rank"].to_numpy(), part["censored"].to_numpy()).metrics
    return {m: round(float(part[m].mean()), 2) for m in metrics}


def breakdown(frame: pd.DataFrame, metrics: list[str] | None, top_labels: int = TOP_LABELS) -> dict:
    """Scores per top-level category and for the ``top_labels`` most frequent labels.

    ``metrics`` names the AVC per-sample columns to average; ``None`` means AVR rows with ``rank`` and
    ``censored`` columns, summarized as R@K / MdR / MnR.
    """
    by_top = [
        {"category": name, "n": len(rows), **_aggregate(frame, rows, metrics)}
        for name, rows in _groups(frame, "top_level").items()
    ]
    by_top.sort(key=lambda r: (-r["n"], r["category"]))
    label_rows = _groups(frame, "labels")
    names = dict(zip((m for ms in frame["labels"] for m in ms), (n for ns in frame["label_names"] for n in ns),
                     strict=True))
    counts = Counter({m: len(rows) for m, rows in label_rows.items() if m != NO_LABELS})
    by_label = [
        {"label": mid, "name": names.get(mid, mid), "n": n, **_aggregate(frame, label_rows[mid], metrics)}
        for mid, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_labels]
    ]
    return {"top_level": by_top, "labels": by_label}
