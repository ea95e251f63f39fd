"""Per-split statistics of a VALOR-style split: AudioSet label distribution (a figure like the paper's
Fig. 4 plus CSV/markdown tables), caption-length histogram and ACD per split.

Label shares are the percentage of a split's clips that carry the label (AudioSet is multi-label, so
shares do not sum to 100). Figures use matplotlib's Agg backend (no display needed). The output folder
holds exactly one run's files: the files of an earlier run (:data:`OUTPUTS`) are removed first, so a
figure this run does not draw (no captions: no length histogram) cannot be mistaken for one it drew.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from valor_data.captions.acd import PRESETS, matcher_for
from valor_data.captions.textnorm import words
from valor_data.clip import ClipRef
from valor_data.ontology import Ontology, load_ontology
from valor_data.resources import VALOR32K_SPLITS, audioset_segments_paths, valor32k_annotation_path
from valor_data.splits.audit import load_splits, segment_index

OUTPUTS = ("label_distribution.csv", "label_distribution.md", "label_distribution.png", "caption_length.png",
           "stats.json")


@dataclass
class LabelRow:
    mid: str
    name: str
    pool: int  # clips with the label, all splits together
    counts: dict[str, int]  # per split
    shares: dict[str, float]  # per split, % of the split's clips


def label_table(splits: Mapping[str, Sequence[ClipRef]], ontology: Ontology | None = None) -> list[LabelRow]:
    """Every label of the clips, most frequent (all splits together) first."""
    ontology = ontology or load_ontology()
    per_split = {name: Counter(x for c in clips for x in set(c.labels)) for name, clips in splits.items()}
    pool = Counter()
    for counts in per_split.values():
        pool.update(counts)
    rows = []
    for mid, n in sorted(pool.items(), key=lambda kv: (-kv[1], kv[0])):
        counts = {name: per_split[name][mid] for name in splits}
        shares = {name: 100 * counts[name] / len(clips) if clips else 0.0 for name, clips in splits.items()}
        rows.append(LabelRow(mid, ontology.name(mid), n, counts, shares))
    return rows


def write_label_tables(rows: Sequence[LabelRow], splits: Sequence[str], out_dir: Path) -> list[Path]:
    """``label_distribution.csv`` (every label) and ``label_distribution.md`` (the same, as markdown)."""
    csv_path, md_path = out_dir / "label_distribution.csv", out_dir / "label_distribution.md"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["mid", "name", "clips", *(f"{s}_clips" for s in splits), *(f"{s}_share_pct" for s in splits)]
        )
        for r in rows:
            w.writerow(
                [
                    r.mid,
                    r.name,
                    r.pool,
                    *(r.counts[s] for s in splits),
                    *(f"{r.shares[s]:.3f}" for s in splits),
                ]
            )
    lines = [
        "| label | clips | " + " | ".join(f"{s} %" for s in splits) + " |",
        "|---|---:|" + "---:|" * len(splits),
    ]
    lines += [
        f"| {r.name} | {r.pool} | " + " | ".join(f"{r.shares[s]:.2f}" for s in splits) + " |" for r in rows
    ]
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [csv_path, md_path]


def _pyplot():
    """matplotlib's pyplot on the Agg backend, which draws without a display."""
    import matplotlib  # optional extra: data; slow to import, so only when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional extra: data (after the backend is chosen)

    return plt


def plot_label_distribution(
    rows: Sequence[LabelRow], splits: Sequence[str], path: Path, top: int = 30
) -> Path:
    """Grouped horizontal bars: share of each split's clips for the ``top`` most frequent labels."""
    plt = _pyplot()
    rows = list(rows[:top])
    fig, ax = plt.subplots(figsize=(9, 0.13 * max(len(rows), 1) * max(len(splits), 1) + 1.4))
    y = np.arange(len(rows))
    height = 0.8 / max(len(splits), 1)
    for i, split in enumerate(splits):
        ax.barh(
            y + (i - (len(splits) - 1) / 2) * height, [r.shares[split] for r in rows], height, label=split
        )
    ax.set_yticks(y, [r.name for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # most frequent on top, no empty margins
    ax.set_xlabel("clips with the label (% of the split)")
    ax.set_title(f"AudioSet label distribution per split (top {len(rows)} labels)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def caption_lengths(splits: Mapping[str, Sequence[ClipRef]], punct: str = "space") -> dict[str, np.ndarray]:
    """Words per caption (ACD's tokenisation), per split."""
    return {
        name: np.array([len(words(cap, punct)) for c in clips for cap in c.captions], dtype=np.int64)
        for name, clips in splits.items()
    }


def plot_caption_lengths(lengths: Mapping[str, np.ndarray], path: Path) -> Path:
    """Overlaid step histograms (share of captions per length in words), one per split."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    longest = max((int(v.max()) for v in lengths.values() if len(v)), default=1)
    bins = np.arange(0, min(longest, 80) + 2) - 0.5
    for name, values in lengths.items():
        if len(values):
            ax.hist(
                np.minimum(values, bins[-1] - 0.5),
                bins=bins,
                histtype="step",
                linewidth=1.6,
                weights=np.full(len(values), 100 / len(values)),
                label=f"{name} (n={len(values):,}, mean {values.mean():.1f})",
            )
    ax.set_xlabel("caption length (words; the last bin holds longer captions)")
    ax.set_ylabel("% of captions")
    ax.set_title("Caption length per split")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def split_stats(files: Sequence[str | Path], out: str | Path, segment_files: Sequence[str | Path] = (),
                top: int = 30, preset: str = "paper") -> dict:
    """``valor-data stats``: per split of ``files`` (default: the shipped VALOR-32K annotations) the label
    distribution (figure + tables), the caption-length histogram and ACD; writes them and ``stats.json``
    to ``out`` and returns that summary (``written`` lists every file)."""
    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    files = tuple(files) or tuple(valor32k_annotation_path(s) for s in VALOR32K_SPLITS)
    loaded = load_splits(files, segment_index(segment_files or audioset_segments_paths()))
    splits = loaded.splits
    names = list(splits)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:  # an earlier run's files: this run writes its own or none
        (out / name).unlink(missing_ok=True)
    rows = label_table(splits)
    written = write_label_tables(rows, names, out)
    written.append(plot_label_distribution(rows, names, out / "label_distribution.png", top))
    lengths = caption_lengths(splits, PRESETS[preset].concepts.punct)
    matcher = matcher_for(preset)
    per_split = {}
    for name, clips in splits.items():
        caps = [cap for c in clips for cap in c.captions]
        acd = matcher.count(caps).summary(5) if caps else {}
        per_split[name] = {
            "file": loaded.files[name],
            "clips": len(clips),
            "labelled": sum(1 for c in clips if c.labels),
            "labels": len({x for c in clips for x in c.labels}),
            "captions": len(caps),
            "acd": acd.get("acd"),
            "avg_len": acd.get("avg_len"),
            "with_concept": acd.get("with_concept"),
            "median_len": float(np.median(lengths[name])) if len(lengths[name]) else None,
        }
    if any(len(v) for v in lengths.values()):
        written.append(plot_caption_lengths(lengths, out / "caption_length.png"))
    summary = {
        "preset": preset,
        "splits": per_split,
        "top_labels": [{"mid": r.mid, "name": r.name, "clips": r.pool,
                        "share_pct": {k: round(v, 3) for k, v in r.shares.items()}} for r in rows[:top]],
        "written": [str(p) for p in written],
    }
    (out / "stats.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    summary["written"].append(str(out / "stats.json"))
    return summary
