"""Where the data the toolkit ships (``annotations/``) lives, and the VALOR-32K splits it knows by name."""

from __future__ import annotations

import os
from pathlib import Path

VALOR32K_SPLITS = ("train", "val", "test")


def annotations_dir() -> Path:
    """``$VALOR_ANNOTATIONS`` if set, else the ``annotations/`` folder of the source tree."""
    env = os.environ.get("VALOR_ANNOTATIONS")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "annotations"
    if not path.is_dir():
        raise FileNotFoundError(
            f"annotations folder {path} not found: install valor from its source tree (pip install -e .) "
            "or set VALOR_ANNOTATIONS to a copy of it"
        )
    return path


def ontology_path() -> Path:
    return annotations_dir() / "audioset" / "ontology.json"


def audioset_segments_paths() -> list[Path]:
    """The AudioSet segment lists VALOR-32K was drawn from (balanced train + eval)."""
    base = annotations_dir() / "audioset"
    return [base / "balanced_train_segments.csv", base / "eval_segments.csv"]


def valor32k_annotation_path(split: str) -> Path:
    if split not in VALOR32K_SPLITS:
        raise ValueError(f"unknown VALOR-32K split {split!r}: choose one of {', '.join(VALOR32K_SPLITS)}")
    return annotations_dir() / "valor32k" / f"desc_{split}.json"
