"""What a shard directory (SHARDDIR) holds: file names, the members of a sample, the index schema.

``shard`` writes this layout and ``verify`` reads it back, so both take the names from here.
"""

from __future__ import annotations

import pyarrow as pa

MEMBERS = ("flac", "json", "mp4", "txt")  # TarWriter writes a sample's members in sorted order
CONFIG_NAME = "shard_config.json"
INDEX_NAME = "index.parquet"
STATS_NAME = "stats.json"
MANIFEST_NAME = "manifest.parquet"
MARKER_SUFFIX = ".stats.json"
LOCK_NAME = ".shard.lock"

INDEX_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("clip_id", pa.string()),
        ("shard", pa.string()),
        ("member", pa.string()),  # extension: flac, json, mp4, txt
        ("name", pa.string()),  # member name in the tar: {key}.{member}
        ("offset", pa.int64()),  # byte offset of the member's tar header
        ("offset_data", pa.int64()),  # byte offset of the member's data
        ("size", pa.int64()),
    ]
)


class ShardError(Exception):
    """Bad input or a shard directory that cannot be (re)used; the message is one line for the user."""


def marker_name(name: str) -> str:
    """The done-marker of tar ``name``: ``valor-000003.tar`` -> ``valor-000003.stats.json``."""
    return name[: -len(".tar")] + MARKER_SUFFIX
