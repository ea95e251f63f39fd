"""Availability lists: the clips someone holds, one clip id a line under a ``# key: value`` header.

``valor-data card`` writes one beside the shards it describes and ``valor-bench availability`` writes one
per ground truth; ``valor-bench ... --available`` reads them back (``valor_bench.coverage``). The digest
(:func:`availability_digest`) is the one identity of an available set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from valor_data.atomic import atomic_write_text

FORMAT = "valor-availability/1"


def availability_digest(clip_ids: Iterable[str]) -> str:
    """sha256 (hex) of the distinct clip ids, sorted, one a line, each line ending in ``\\n`` (UTF-8).

    This is the body of a list written by :func:`write_availability`, so ``grep -v '^#' avail.txt |
    sha256sum`` gives the same value. Order and repeats do not change the digest.
    """
    body = "".join(f"{c}\n" for c in sorted(set(clip_ids)))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def list_text(clip_ids: Iterable[str], header: dict[str, str | None]) -> str:
    """An availability list: the ``# key: value`` header (format and digest first), then the sorted ids."""
    ids = sorted(set(clip_ids))
    head = {"format": FORMAT, **header, "clips": f"{len(ids):,}", "digest": f"sha256:{availability_digest(ids)}",
            "date": header.get("date") or datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    lines = ["# valor-bench availability list: the clips a user has, one clip id a line, sorted.",
             "# Pass it to `valor-bench evaluate | validate | submit --available FILE`.",
             *(f"# {k}: {v}" for k, v in head.items() if v is not None)]
    return "\n".join(lines) + "\n" + "".join(f"{c}\n" for c in ids)


def write_availability(path: str | Path, clip_ids: Iterable[str], header: dict[str, str | None] | None = None) -> str:
    """Write an availability list atomically; returns its digest. An empty list is refused (ValueError)."""
    ids = list(clip_ids)
    if not ids:
        raise ValueError(f"{path}: no clips to list")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, list_text(ids, header or {}), sync=False)
    return availability_digest(ids)
