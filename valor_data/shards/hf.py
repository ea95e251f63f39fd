"""Read valor shards with Hugging Face ``datasets`` (``load_dataset("webdataset", ...)``).

``datasets`` would decode ``.mp4``/``.flac`` members through torchcodec, which does not load against
every torch build (it fails with torch 2.13 here). With :data:`FEATURES` the media stay raw bytes
(``Value("binary")``) and decode however the user likes (PyAV, soundfile, torchcodec where it works);
the ``.json`` member becomes a typed struct and ``.txt`` a string. Probe facts that a clip lacks (shards
of an older fetch) read as None.
"""

from __future__ import annotations

import dataclasses
import typing
from fractions import Fraction
from pathlib import Path
from typing import Any

from datasets import Features, List, Value, load_dataset

from valor_data.fetch.probe import InputFacts, OutputFacts, ProbeFacts

__all__ = ["FEATURES", "load_hf", "shard_files"]

# The probe facts `valor-data fetch` records, derived from the dataclasses that write them so that a fact
# added there reaches `datasets` too (it drops the fields a spec does not name).
_SCALARS = {bool: "bool", int: "int64", float: "float64", str: "string", Fraction: "string"}


def _dataclass_features(cls: type) -> dict:
    """One ``Value`` per field of a probe dataclass (``extra`` is spelled out by the callers)."""
    hints = typing.get_type_hints(cls)
    features = {}
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        kinds = [t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None)]
        features[f.name] = Value(_SCALARS[kinds[0]])
    return features


PROBE_FEATURES = {
    **_dataclass_features(ProbeFacts),  # the segment the filters decide on
    "path": Value("string"),  # how the media were read: local, one_pass or segment_download (fallback)
    "source": _dataclass_features(InputFacts),  # the source's header
    "output": {  # the normalised files as read back, and the checks they passed
        **_dataclass_features(OutputFacts),
        "checked": List(Value("string")),
        "segment": Value("float64"),
        "rate": Value("string"),
        "preroll": Value("float64"),
        "tolerance": {"video_s": Value("float64"), "audio_s": Value("float64")},
        "frame_durations": List(Value("int64")),
        "sha256": {"mp4": Value("string"), "flac": Value("string")},
    },
}

FEATURES = Features(
    {
        "__key__": Value("string"),
        "__url__": Value("string"),
        "mp4": Value("binary"),
        "flac": Value("binary"),
        "txt": Value("string"),
        "json": {
            "clip_id": Value("string"),
            "key": Value("string"),
            "ytid": Value("string"),
            "start": Value("float64"),
            "end": Value("float64"),
            "labels": List({"mid": Value("string"), "name": Value("string")}),
            "captions": List(Value("string")),
            "probe": PROBE_FEATURES,
            "sha256": {"mp4": Value("string"), "flac": Value("string")},
        },
    }
)


def shard_files(shard_dir: str | Path) -> list[str]:
    """The tars of a shard directory, in shard order."""
    files = sorted(str(p) for p in Path(shard_dir).glob("*.tar"))
    if not files:
        raise FileNotFoundError(f"{shard_dir}: no .tar shards here")
    return files


def load_hf(shard_dir: str | Path, split: str = "train", **kwargs: Any):
    """All shards of ``shard_dir`` as one ``datasets.Dataset`` split, media as bytes.

    Extra keyword arguments go to ``datasets.load_dataset`` (e.g. ``cache_dir``, ``streaming=True``).
    """
    return load_dataset(
        "webdataset", data_files={split: shard_files(shard_dir)}, features=FEATURES, split=split, **kwargs
    )
