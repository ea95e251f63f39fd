"""Read valor shards with Hugging Face ``datasets`` (``load_dataset("webdataset", ...)``).

``datasets`` would decode ``.mp4``/``.flac`` members through torchcodec, which does not load against
every torch build (it fails with torch 2.13 here). With :data:`FEATURES` the media stay raw bytes
(``Value("binary")``) and decode however the user likes (PyAV, soundfile, torchcodec where it works);
the ``.json`` member becomes a typed struct and ``.txt`` a string. Probe facts that a newer fetch adds
but this spec does not name are dropped by ``datasets``; named ones that a clip lacks read as None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Features, List, Value

# The probe facts `valor-data fetch` records (valor_data.fetch.probe.ProbeFacts of the downloaded segment, and
# under "output" those of the normalised files).
PROBE_FEATURES = {
    "duration": Value("float64"),
    "source_duration": Value("float64"),
    "has_video": Value("bool"),
    "has_audio": Value("bool"),
    "width": Value("int64"),
    "height": Value("int64"),
    "fps": Value("float64"),
    "vcodec": Value("string"),
    "acodec": Value("string"),
    "sample_rate": Value("int64"),
    "channels": Value("int64"),
    "rms_db": Value("float64"),
    "motion": Value("float64"),
    "luma": Value("float64"),
    "frames_sampled": Value("int64"),
    "decode_error": Value("string"),
    "output": {
        "width": Value("int64"),
        "height": Value("int64"),
        "fps": Value("float64"),
        "frames": Value("int64"),
        "duration": Value("float64"),
        "sample_rate": Value("int64"),
        "channels": Value("int64"),
        "audio_duration": Value("float64"),
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
    from datasets import load_dataset

    return load_dataset(
        "webdataset", data_files={split: shard_files(shard_dir)}, features=FEATURES, split=split, **kwargs
    )
