"""The sha256 of a file, read in 1 MiB blocks: manifests, shard indexes, verify and valor-bench record it."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path`` (``hashlib.file_digest`` would need Python 3.11)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
