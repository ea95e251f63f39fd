"""A shard directory's samples read in place: each member's byte range in its tar, from ``index.parquet``,
and the small ``{key}.json`` members read by seeking there. Nothing is unpacked.

The exporter, the dataset card and the annotation import all read samples this way; each keeps its own
policy for a bad sample (record it and go on, or refuse), so the json reader yields problems, never raises.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from valor_data.shards.layout import INDEX_NAME, MEMBERS, ShardError

BATCH_ROWS = 262_144

@dataclass(frozen=True, slots=True)
class MemberRange:
    """One tar member's data: ``size`` bytes from ``offset`` in the tar at ``path``."""

    path: str
    offset: int
    size: int

    @property
    def ffmpeg_url(self) -> str:
        """The member as an ffmpeg input, read in place through the ``subfile`` protocol; ValueError for a
        path holding ',,' (the protocol's option separator)."""
        if ",," in self.path:
            raise ValueError(f"{self.path}: a path with ',,' cannot be read through ffmpeg's subfile protocol")
        return f"subfile,,start,{self.offset},end,{self.offset + self.size},,:{self.path}"


@dataclass(frozen=True, slots=True)
class Sample:
    """A sample of the shard directory: its key, the clip id the index gives ("" when none) and its
    members' byte ranges by extension (mp4, flac, json, txt)."""

    key: str
    clip_id: str
    members: dict[str, MemberRange]


def read_samples(shard_dir: str | Path, members: Sequence[str] = MEMBERS) -> dict[str, Sample]:
    """The samples of ``shard_dir`` by key, in tar order (shard, then offset), with only the ``members``
    asked for (a sample with none of them is left out); ShardError (one line) for a missing or bad index.

    Read column-wise: at VALOR-1M the index has 4 M rows, so no dict is made per row."""
    root = Path(shard_dir)
    path = root / INDEX_NAME
    if not path.is_file():
        raise ShardError(f"{root}: no {INDEX_NAME} here; give a directory written by a finished `valor-data shard`")
    names = ["key", "clip_id", "shard", "member", "offset_data", "size"]
    try:
        index = pq.read_table(path, columns=names)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad parquet / missing column
        raise ShardError(f"{path}: not a shard index ({str(e).splitlines()[0]})") from None
    index = index.filter(pc.is_in(index.column("member"), pa.array(list(members), pa.string())))
    index = index.sort_by([("shard", "ascending"), ("offset_data", "ascending")])
    base = root.absolute()
    tars = {name: str(base / name) for name in index.column("shard").unique().to_pylist()}
    samples: dict[str, Sample] = {}
    collecting = gc.isenabled()
    gc.disable()  # millions of live objects made in one go: collections while building them are wasted
    try:
        for batch in index.to_batches(max_chunksize=BATCH_ROWS):  # python lists for one batch at a time
            columns = (batch.column(n).to_pylist() for n in names)
            for key, clip_id, shard, member, offset, size in zip(*columns, strict=True):
                sample = samples.get(key)
                if sample is None:
                    sample = samples[key] = Sample(key, clip_id or "", {})
                sample.members[member] = MemberRange(tars[shard], offset, size)
    finally:
        if collecting:
            gc.enable()
    return samples


def read_json_members(samples: Iterable[Sample]) -> Iterator[tuple[Sample, dict, str]]:
    """Each sample with its parsed ``{key}.json`` member and "", or with {} and the problem (one line): no
    json member, an unreadable one, or one that is not a JSON object. Each tar is opened once."""
    with contextlib.ExitStack() as stack:
        handles: dict[str, BinaryIO] = {}
        for sample in samples:
            member = sample.members.get("json")
            if member is None:
                yield sample, {}, "no .json member"
                continue
            try:
                if member.path not in handles:
                    handles[member.path] = stack.enter_context(open(member.path, "rb"))
                handle = handles[member.path]
                handle.seek(member.offset)
                meta = json.loads(handle.read(member.size))
            except (OSError, ValueError) as e:
                yield sample, {}, f"unreadable .json member: {e}"
                continue
            if isinstance(meta, dict):
                yield sample, meta, ""
            else:
                yield sample, {}, ".json member is not a JSON object"
