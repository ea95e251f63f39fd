"""A fetch task's journal: one append-only file holding a manifest row per finished clip.

It lets a killed task resume without redoing its finished clips. One file per task, not one per clip: at
VALOR-1M scale a million small synced files are the slowest thing a filesystem does (NFS, Lustre; ext4
mounted with ``discard`` too), while appending a line costs one ``write``.

Record format, one per line: ``{crc32:08x} {json}\\n`` (the CRC of the JSON bytes; JSON escapes every
newline inside it). A record is appended with one ``write`` call, but a write that SIGKILL interrupts can
stop part-way, and a power cut can leave a torn or zero-filled tail; such a record fails its CRC or has no
newline and is ignored, so its clip is simply fetched again. :func:`resume_journal` rewrites the file
with the records it keeps before anything is appended again, so a torn tail never sits in the middle.

Durability: the data a ``write`` hands to the kernel survives the death of the process (SIGKILL, OOM
killer). A record is ``fsync``-ed with it when ``sync_interval`` seconds (default 1) have passed since the
last fsync: with real clips (seconds each) that is every record, in a burst of fast failures about one
per second. A power cut loses the records since the last fsync; their clips are fetched again.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from valor_data.atomic import atomic_write_bytes, fsync_dir

SYNC_INTERVAL_S = 1.0


def encode_record(row: dict) -> bytes:
    """One journal line for ``row`` (None values dropped: the manifest schema fills them back)."""
    data = json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(data), data)


def _decode_record(line: bytes) -> dict | None:
    if len(line) < 10 or line[8:9] != b" ":
        return None
    data = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(data):
            return None
        row = json.loads(data)
    except ValueError:
        return None
    return row if isinstance(row, dict) and isinstance(row.get("key"), str) else None


def read_journal(path: str | os.PathLike) -> tuple[list[dict], int]:
    """The intact records of a journal, in order, and the number of damaged ones skipped (a torn last
    record, a bad CRC, a line that is not a row). A missing file has no records."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a record cut short
    rows, damaged = [], int(bool(tail))
    for line in lines:
        row = _decode_record(line)
        if row is None:
            damaged += int(bool(line))
        else:
            rows.append(row)
    return rows, damaged


def resume_journal(path: str | os.PathLike, keep: Callable[[dict], bool]) -> dict[str, dict]:
    """The journaled rows (by key, the last record of a key wins) for which ``keep(row)`` holds; the file
    is rewritten atomically with exactly those, so that appending resumes after intact records only."""
    path = Path(path)
    rows, damaged = read_journal(path)
    kept = {row["key"]: row for row in rows if keep(row)}
    if not kept:
        path.unlink(missing_ok=True)
    elif damaged or len(kept) != len(rows):
        atomic_write_bytes(path, b"".join(encode_record(r) for r in kept.values()))
    return kept


class Journal:
    """Appends records to a task's journal file; ``fsync`` at most every ``sync_interval`` seconds.

    Used as a context manager. Closing does not sync: a finished task writes its (synced) part manifest
    next and deletes the journal; an unfinished one is resumed from what the kernel has.
    """

    def __init__(self, path: str | os.PathLike, sync_interval: float = SYNC_INTERVAL_S):
        self.path = Path(path)
        self.sync_interval = sync_interval
        self._fd: int | None = None
        self._last_sync = 0.0

    def append(self, row: dict) -> None:
        if self._fd is None:
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if created:
                fsync_dir(self.path.parent)  # the file's name is durable before its first record
            self._last_sync = time.monotonic()
        view = memoryview(encode_record(row))
        while view:  # a regular file may take less than asked (a signal, a full disk: then it raises)
            view = view[os.write(self._fd, view):]
        now = time.monotonic()
        if now - self._last_sync >= self.sync_interval:
            os.fsync(self._fd)
            self._last_sync = now

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
