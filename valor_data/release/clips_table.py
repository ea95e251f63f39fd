"""``clips.parquet``: one row per sample of a shard directory (ids, shard, split, captions, AudioSet labels).

Croissant's reader (mlcroissant) can join a table to the media files of a tar but cannot parse the
``{key}.json`` members in place, so the card writes their facts as this table. It is read from the json
members themselves (located by ``index.parquet``'s byte offsets, nothing unpacked), so it states what the
tars hold, including captions that ``shard --captions`` replaced.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from valor_data.clip import ClipRef
from valor_data.release.card_files import CardError
from valor_data.resources import VALOR32K_SPLITS, annotations_dir
from valor_data.shards.inputs import clean_captions
from valor_data.shards.layout import INDEX_NAME

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
    index_path = shard_dir / INDEX_NAME
    if not index_path.is_file():
        raise CardError(f"{shard_dir}: no {INDEX_NAME}; give a directory written by a finished `valor-data shard`")
    index = pq.read_table(index_path, columns=["key", "shard", "member", "offset_data", "size"]).to_pylist()
    official = {} if split else valor32k_split_of()
    rows = []
    handles: dict[str, BinaryIO] = {}
    try:
        for row in index:
            if row["member"] != "json":
                continue
            where = f"{shard_dir / row['shard']}: member {row['key']}.json"
            try:
                if row["shard"] not in handles:
                    handles[row["shard"]] = open(shard_dir / row["shard"], "rb")  # noqa: SIM115 - closed below
                handle = handles[row["shard"]]
                handle.seek(row["offset_data"])
                meta = json.loads(handle.read(row["size"]))
            except (OSError, ValueError) as e:
                raise CardError(f"{where}: unreadable ({e}); run `valor-data verify`") from None
            if not isinstance(meta, dict):
                raise CardError(f"{where}: not a JSON object; run `valor-data verify`")
            rows.append(_row(row["key"], row["shard"], meta, split or official.get(row["key"])))
    finally:
        for handle in handles.values():
            handle.close()
    return pa.Table.from_pylist(rows, schema=CLIPS_SCHEMA)


def _row(key: str, shard: str, meta: dict, split: str | None) -> dict:
    ref = ClipRef.from_key(key)
    labels = [item for item in meta.get("labels") or [] if isinstance(item, dict)]
    return {
        "key": key, "clip_id": ref.clip_id, "ytid": ref.ytid, "start": ref.start, "end": ref.end, "shard": shard,
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
