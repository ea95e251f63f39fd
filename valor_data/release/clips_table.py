"""``clips.parquet``: one row per sample of a shard directory (ids, shard, split, captions, AudioSet labels).

Croissant's reader (mlcroissant) can join a table to the media files of a tar but cannot parse the
``{key}.json`` members in place, so the card writes their facts as this table. It is read from the json
members themselves (located by ``index.parquet``'s byte offsets, nothing unpacked), so it states what the
tars hold, including captions that ``shard --captions`` replaced.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from valor_data.clip import ClipRef
from valor_data.release.card_files import CardError
from valor_data.resources import VALOR32K_SPLITS, annotations_dir
from valor_data.shards.inputs import clean_captions
from valor_data.shards.layout import ShardError
from valor_data.shards.samples import Sample, read_json_members, read_samples

CLIPS_SCHEMA = pa.schema(
    [
        ("key", pa.string()),  # the sample key: member names are {key}.mp4, .flac, .json, .txt
        ("clip_id", pa.string()),  # VALOR's id: {ytid}_{start:.3f}_{end:.3f}
        ("ytid", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("shard", pa.string()),
        ("split", pa.string()),  # null when unknown
        ("captions", pa.list_(pa.string())),
        ("labels", pa.list_(pa.string())),  # AudioSet label mids
        ("label_names", pa.list_(pa.string())),
    ]
)


def read_clips(shard_dir: Path, split: str | None = None) -> pa.Table:
    """The samples of ``shard_dir`` in tar order. ``split`` names the split of every clip; without it, a
    clip's split is the official VALOR-32K split that lists it (null for a clip in none)."""
    try:
        samples = read_samples(shard_dir, members=("json",))
    except ShardError as e:
        raise CardError(str(e)) from None
    official = {} if split else valor32k_split_of()
    rows = []
    for sample, meta, problem in read_json_members(samples.values()):
        if problem:
            raise CardError(f"{sample.members['json'].path}: sample {sample.key}: {problem}; run `valor-data verify`")
        rows.append(_row(sample, meta, split or official.get(sample.key)))
    return pa.Table.from_pylist(rows, schema=CLIPS_SCHEMA)


def _row(sample: Sample, meta: dict, split: str | None) -> dict:
    ref = ClipRef.from_key(sample.key)
    labels = [item for item in meta.get("labels") or [] if isinstance(item, dict)]
    return {
        "key": sample.key, "clip_id": ref.clip_id, "ytid": ref.ytid, "start": ref.start, "end": ref.end,
        "shard": Path(sample.members["json"].path).name,
        "split": split, "captions": list(clean_captions(meta.get("captions"))),
        "labels": [str(item.get("mid", "")) for item in labels],
        "label_names": [str(item.get("name", "")) for item in labels],
    }  # fmt: skip


@cache
def valor32k_split_of() -> dict[str, str]:
    """Sample key -> official VALOR-32K split, from the split lists the toolkit ships (empty without them).
    Read once per process: the card asks twice (splits, coverage). Do not modify the result."""
    try:
        base = annotations_dir() / "valor32k"
    except FileNotFoundError:
        return {}
    split_of = {}
    for name in VALOR32K_SPLITS:
        path = base / f"{name}_ids.txt"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").split():
                split_of[ClipRef.from_clip_id(line).key] = name
    return split_of


def write_clips(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path)
