"""Files that appear whole or not at all, and locks that keep two runs out of one directory.

Every stage that can be killed at any moment (fetch, shard, train) relies on the same two habits, so they
are written once, here:

* **Atomic files**: write under a temporary name unique to this writer (``{name}.{host}-{pid}.tmp``, so two
  writers of one file - a Spark speculative copy, an orphaned worker - never share a temporary file),
  fsync it, ``os.replace`` it onto the final name, fsync the directory. A reader never sees a partial
  file under the final name; a crash leaves at most a ``*.tmp`` that reruns delete.
* **Locks**: ``flock`` on a lock file. Forked workers inherit the descriptor, so a rerun started while the
  workers of a killed run still write is refused (or waits) instead of racing them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

TMP_SUFFIX = ".tmp"  # every temporary name ends with it: {final name}.{host}-{pid}.tmp


def temp_name(name: str) -> str:
    """A temporary name unique to this writer (host and pid): two writers of one file never collide."""
    return f"{name}.{socket.gethostname()}-{os.getpid()}{TMP_SUFFIX}"


def fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename in ``path`` durable; a no-op where directories cannot be opened or synced."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without error, it becomes ``path``
    whole. On error nothing is left behind. ``sync=False`` skips the fsyncs (still atomic, not durable
    across a power cut): for small, frequent files that a rerun can rebuild."""
    final = Path(path)
    tmp = final.with_name(temp_name(final.name))
    try:
        yield tmp
        if sync:
            fsync_file(tmp)
        os.replace(tmp, final)
        if sync:
            fsync_dir(final.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, sync: bool = True) -> None:
    with atomic_path(path, sync=sync) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, sync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), sync=sync)


class LockBusy(Exception):
    """The lock is held by another process (another run, or the workers of a killed one)."""


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, wait_s: float | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block.

    ``wait_s=None`` waits as long as it takes (one task's lock: a second attempt waits for the first, then
    finds it done); a number waits at most that many seconds, then raises :class:`LockBusy` (a whole run's
    lock: the user is told the directory is busy).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if wait_s is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockBusy(str(path)) from None
                    time.sleep(0.1)
        yield
    finally:
        os.close(fd)
