"""Read an existing split (VALOR annotation files or id lists), join AudioSet labels, and audit it.

What the audit reports, by rule (nothing here knows particular clip ids):

* broken captions: empty, or without a single letter. The official VALOR-32K files have 8 clips with a
  fractional start time whose caption is just the start's milliseconds (``23.700`` → ``"700"``); the
  reason says so when the digits equal them.
* duplicates: a clip id twice in one split or in two splits; identical caption texts on different clips.
* leakage: one YouTube id in two splits; clips of AudioSet's *eval* segments that sit in the train split
  (a model trained on them must not be evaluated on AudioSet eval), and AudioSet train clips in val/test.
* clips without AudioSet labels (not found in the segment lists given).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from valor_data.clip import ClipRef
from valor_data.inputs import BadRow, read_audioset_csv, read_clips
from valor_data.ontology import load_ontology
from valor_data.resources import VALOR32K_SPLITS, audioset_segments_paths, valor32k_annotation_path
from valor_data.splits.stratify import check_disjoint, label_distance, write_split

_SPLIT_NAME = re.compile(r"^(?:desc_)?(?P<name>[A-Za-z0-9]+)(?:_ids)?$")


@dataclass
class Segment:
    source: str  # "balanced_train", "eval", "unbalanced_train", ... (the CSV's stem without _segments)
    labels: tuple[str, ...]


@dataclass
class LoadedSplits:
    splits: dict[str, list[ClipRef]]  # clips with the AudioSet labels joined in
    files: dict[str, str]
    bad_rows: list[BadRow] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # clip key -> AudioSet list it came from


def segment_source_name(path: str | Path) -> str:
    stem = Path(path).stem
    return stem[: -len("_segments")] if stem.endswith("_segments") else stem


def segment_index(paths: Sequence[str | Path]) -> dict[str, Segment]:
    """Clip key → (AudioSet list, labels) for every row of the given segment CSVs (first list wins)."""
    index: dict[str, Segment] = {}
    for path in paths:
        source = segment_source_name(path)
        for item in read_audioset_csv(path):
            if isinstance(item, ClipRef) and item.key not in index:
                index[item.key] = Segment(source, item.labels)
    return index


def split_name_of(path: str | Path, position: int, names: Sequence[str] = ("train", "val", "test")) -> str:
    """``desc_train.json`` / ``train_ids.txt`` → ``train``; otherwise the positional name."""
    m = _SPLIT_NAME.match(Path(path).stem)
    if m and m.group("name") in names:
        return m.group("name")
    return names[position] if position < len(names) else Path(path).stem


def load_splits(paths: Sequence[str | Path], segments: Mapping[str, Segment]) -> LoadedSplits:
    """Read each split file (VALOR JSON or id list), keeping captions, and join AudioSet labels."""
    out = LoadedSplits({}, {})
    for i, path in enumerate(paths):
        name = split_name_of(path, i)
        if name in out.splits:
            raise ValueError(f"{path}: a second file for the split {name!r} ({out.files[name]} is the first)")
        clips = []
        for item in read_clips(path):
            if isinstance(item, BadRow):
                out.bad_rows.append(item)
                continue
            seg = segments.get(item.key)
            if seg is not None:
                out.sources[item.key] = seg.source
                item = ClipRef(
                    item.ytid, item.start_ms, item.end_ms, seg.labels, item.captions, item.source, item.line
                )
            clips.append(item)
        out.splits[name] = clips
        out.files[name] = str(path)
    return out


def broken_caption_reason(clip: ClipRef, caption: str) -> str | None:
    """Why ``caption`` is not a caption at all, or None."""
    text = caption.strip()
    if not text:
        return "empty caption"
    if any(ch.isalpha() for ch in text):
        return None
    ms = clip.start_ms % 1000
    if text.isdigit() and ms and int(text) == ms:
        return f"the caption is the milliseconds of the start time ({clip.start:.3f} → {text!r})"
    return "no letters in the caption"


def audit(loaded: LoadedSplits, examples: int = 10) -> dict:
    """The full report (a JSON-ready dict); see the module docstring for what is checked."""
    splits = loaded.splits
    report: dict = {"splits": {}, "total_clips": sum(len(v) for v in splits.values())}
    for name, clips in splits.items():
        src = Counter(loaded.sources.get(c.key, "none") for c in clips)
        report["splits"][name] = {
            "file": loaded.files[name],
            "clips": len(clips),
            "captions": sum(len(c.captions) for c in clips),
            "ytids": len({c.ytid for c in clips}),
            "labelled": sum(1 for c in clips if c.labels),
            "audioset_source": dict(sorted(src.items())),
        }
    broken = [
        {"split": name, "clip_id": c.clip_id, "caption": cap, "reason": reason}
        for name, clips in splits.items()
        for c in clips
        for cap in c.captions
        if (reason := broken_caption_reason(c, cap))
    ]
    report["broken_captions"] = broken

    within = {
        name: sorted(k for k, n in Counter(c.clip_id for c in clips).items() if n > 1)
        for name, clips in splits.items()
    }
    where = Counter()
    for clips in splits.values():
        where.update({c.clip_id for c in clips})
    across = sorted(k for k, n in where.items() if n > 1)
    caption_count = Counter(cap.strip() for clips in splits.values() for c in clips for cap in c.captions)
    repeated = [(cap, n) for cap, n in caption_count.most_common() if n > 1]
    report["duplicates"] = {
        "clip_ids_within_split": {k: v for k, v in within.items() if v},
        "clip_ids_across_splits": across,
        "identical_captions": sum(n - 1 for _, n in repeated),
        "identical_caption_examples": [{"caption": c, "clips": n} for c, n in repeated[:examples]],
    }

    ytid_leak = check_disjoint(splits)
    eval_in_train = [c.clip_id for c in splits.get("train", []) if loaded.sources.get(c.key) == "eval"]
    train_in_eval = {
        name: sum(1 for c in clips if loaded.sources.get(c.key, "").endswith("train"))
        for name, clips in splits.items()
        if name != "train"
    }
    report["leakage"] = {
        "ytids_in_several_splits": len(ytid_leak),
        "ytid_examples": dict(list(sorted(ytid_leak.items()))[:examples]),
        "audioset_eval_clips_in_train": len(eval_in_train),
        "audioset_eval_in_train_examples": eval_in_train[:examples],
        "audioset_train_clips_in_other_splits": train_in_eval,
    }
    unlabelled = [c.clip_id for clips in splits.values() for c in clips if not c.labels]
    report["unlabelled"] = {"count": len(unlabelled), "examples": unlabelled[:examples]}
    report["label_distance"] = label_distance(splits)
    report["bad_rows"] = [{"where": b.where, "message": b.message} for b in loaded.bad_rows]
    return report


def audit_files(files: Sequence[str | Path] = (), out: str | Path | None = None,
                segment_files: Sequence[str | Path] = ()) -> dict:
    """``valor-data split --from-annotations``: load an existing split (default: the shipped VALOR-32K
    annotations), join AudioSet labels (default: the shipped segment lists), audit it, and write the id
    lists, ``labels.csv`` and ``audit.json`` to ``out`` when given. Returns the report."""
    files = files or tuple(valor32k_annotation_path(s) for s in VALOR32K_SPLITS)
    loaded = load_splits(files, segment_index(segment_files or audioset_segments_paths()))
    report = audit(loaded)
    if out is not None:
        out = Path(out)
        written = write_split(loaded.splits, out)
        write_labels(out / "labels.csv", loaded)
        (out / "audit.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        report["written"] = [str(p) for p in written] + [str(out / "labels.csv"), str(out / "audit.json")]
    return report


def write_labels(path: Path, loaded: LoadedSplits) -> None:
    """One row per clip: split, clip id, its AudioSet segment list, label mids and names."""
    onto = load_ontology()
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["split", "clip_id", "audioset_source", "labels", "label_names"])
        for name, clips in loaded.splits.items():
            for c in clips:
                w.writerow([name, c.clip_id, loaded.sources.get(c.key, ""), ",".join(c.labels),
                            ";".join(onto.name(m) for m in c.labels)])


SPLIT_FILE_PATTERNS = ("desc_{}.json", "{}_ids.txt")


def split_files_in(split_dir: str | Path) -> list[Path]:
    """The split files of a folder written by ``valor-data split``: desc_{split}.json, else {split}_ids.txt."""
    split_dir = Path(split_dir)
    found = []
    for split in ("train", "val", "test"):
        for pattern in SPLIT_FILE_PATTERNS:
            path = split_dir / pattern.format(split)
            if path.is_file():
                found.append(path)
                break
    if not found:
        raise ValueError(f"{split_dir}: no desc_{{split}}.json or {{split}}_ids.txt files")
    return found
