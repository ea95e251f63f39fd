"""The files a finished run adds beside the tars: index.parquet (member byte offsets), manifest.parquet
(the fetch manifest with its shard column filled) and stats.json, each written atomically.

They are built from the done-markers alone, so a resumed run writes the same files as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from valor_data.clip import OK, Status
from valor_data.engines.storage import Store
from valor_data.shards.layout import INDEX_NAME, INDEX_SCHEMA, MANIFEST_NAME, STATS_NAME
from valor_data.shards.plan import Plan


def write_outputs(out: Store | Path, manifest: pa.Table, plan: Plan, markers: list[dict]) -> dict:
    """index.parquet, manifest.parquet (shard column filled) and stats.json; returns the stats.

    Built column by column: at VALOR-1M scale a dict per index row would cost gigabytes.
    """
    out = out if isinstance(out, Store) else Store(out)
    _write_parquet(_index(plan, markers), out, INDEX_NAME)
    shard_of = {key: marker["shard"] for marker in markers for key in marker["keys"]}
    table, status = _sharded_manifest(manifest, plan, shard_of)
    _write_parquet(table, out, MANIFEST_NAME)
    stats = _stats(markers, status)
    out.write_text(STATS_NAME, json.dumps(stats, indent=1))
    return stats


def _index(plan: Plan, markers: list[dict]) -> pa.Table:
    clip_of = {s.key: s.clip_id for t in plan.tasks for s in t.samples}
    cols: dict[str, list] = {name: [] for name in INDEX_SCHEMA.names}
    for marker in markers:
        for name, offset, offset_data, size in marker["members"]:
            key, member = name.split(".", 1)
            for col, value in zip(
                INDEX_SCHEMA.names,
                (key, clip_of.get(key, ""), marker["shard"], member, name, offset, offset_data, size),
                strict=True,
            ):
                cols[col].append(value)
    return pa.table(cols, schema=INDEX_SCHEMA)


def _sharded_manifest(manifest: pa.Table, plan: Plan, shard_of: dict[str, str]) -> tuple[pa.Table, list[str]]:
    """The manifest with each row's shard, and ok rows whose media vanished turned into errors."""
    keys = manifest.column("key").to_pylist()
    status = manifest.column("status").to_pylist()
    message = manifest.column("message").to_pylist()
    for i, key in enumerate(keys):
        if status[i] == OK and key in plan.missing_media:
            status[i], message[i] = Status.ERROR, f"shard: {plan.missing_media[key]}"
    updates = {
        "status": pa.array(status, pa.string()),
        "message": pa.array(message, pa.string()),
        "shard": pa.array([shard_of.get(k) for k in keys], pa.string()),
    }
    table = manifest
    for name, column in updates.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table, status


def _stats(markers: list[dict], status: list[str]) -> dict:
    samples = sum(m["samples"] for m in markers)
    duration = sum(m["duration_s"] for m in markers)
    counts = Counter(status)
    return {
        "samples": samples,
        "shards": len(markers),
        "with_captions": sum(m["with_captions"] for m in markers),
        "without_captions": sum(m["without_captions"] for m in markers),
        "tar_bytes": sum(m["tar_bytes"] for m in markers),
        "video_bytes": sum(m["video_bytes"] for m in markers),
        "audio_bytes": sum(m["audio_bytes"] for m in markers),
        "duration_s_total": round(duration, 3),
        "duration_s_mean": round(duration / samples, 3) if samples else 0.0,
        "manifest": {"rows": len(status), "status": dict(sorted(counts.items()))},
        "shard_list": [
            {"name": m["shard"], "samples": m["samples"], "bytes": m["tar_bytes"], "sha256": m["tar_sha256"]}
            for m in markers
        ],
    }


def _write_parquet(table: pa.Table, out: Store, name: str) -> None:
    with out.staged(name) as tmp:
        pq.write_table(table, tmp)
