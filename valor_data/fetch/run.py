"""``fetch``: plan clips into tasks, run each task (download -> probe -> filter -> normalise), merge manifests.

Output layout of ``OUT`` (the contract ``shard``, Spark and the demo rely on)::

    OUT/fetch_config.json              options that shape the outputs + input fingerprint (reruns must match)
    OUT/manifest.parquet               one row per input clip, clip.MANIFEST_SCHEMA, sorted like the plan
    OUT/clips/{task:05d}/{key}.mp4     H.264 video, no audio        (only for status == "ok")
    OUT/clips/{task:05d}/{key}.flac    FLAC audio
    OUT/_tasks/{task:05d}.parquet      a finished task's rows: its done-marker, written last, atomically
    OUT/_tasks/{task:05d}.journal      an unfinished task's rows, one appended record per clip (journal.py)
    OUT/_work/{task:05d}/              scratch (downloads, temp outputs); deleted when the task finishes
    OUT/_errors/{task:05d}.log         tracebacks of clips whose status is ``error`` (a bug): kept

Resumability (SIGKILL at any moment): media are written under ``_work`` and renamed into ``clips`` only when
complete; a clip's journal record is appended only after its files are in place (a record cut short by the
kill fails its CRC and is ignored); the task's part manifest is written (tmp + fsync + rename) only after
every clip has a row. A rerun skips tasks with a part manifest; an unfinished task keeps the journaled clips
whose files are intact, deletes every other file in its clip folder and its scratch, and does the rest. So
no clip is lost, none is done twice, and no partial file is ever taken as done.

Scale: per clip, the bookkeeping is one appended journal record (a few hundred bytes, fsynced at most once a
second); per task, one part manifest, one lock file and the journal; a rerun of a finished job reads the
part markers' names and the manifest's metadata only (see :func:`merge_manifest`).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from valor_data.atomic import TMP_SUFFIX, LockBusy, atomic_path, atomic_write_bytes, exclusive_lock
from valor_data.child_process import set_parent_death_signal
from valor_data.clip import MANIFEST_SCHEMA, OK, STATUSES, ClipRef
from valor_data.engines.distributor import Distributor, get_distributor
from valor_data.engines.storage import require_local
from valor_data.fetch.filters import build_filters
from valor_data.fetch.journal import Journal, resume_journal
from valor_data.fetch.plan import (
    FetchOptions,
    FetchTask,
    TaskResult,
    auto_task_size,
    check_config,
    fetch_config,
    plan_digest,
    plan_tasks,
    stored_task_size,
)
from valor_data.fetch.process import bad_row, count_fallbacks, finish_clip, prefetched
from valor_data.fetch.sources import make_source
from valor_data.inputs import BadRow


class FetchBusyError(Exception):
    """Another fetch (or its workers) is writing to the same OUT."""


# ----------------------------------------------------------------------------------------------------
# One task (module-level and picklable: what a distributor runs)
# ----------------------------------------------------------------------------------------------------
def _write_table(table: pa.Table, path: Path) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def _status_counts(table: pa.Table) -> Counter:
    return Counter({d["values"]: d["counts"] for d in pc.value_counts(table.column("status")).to_pylist()})


def _counts(counts: Counter) -> dict[str, int]:
    """Clips per status, in the order of ``clip.STATUSES``."""
    return {s: counts[s] for s in STATUSES if counts[s]}


def _resume(task: FetchTask) -> dict[str, dict]:
    """Rows journaled by an interrupted run whose files are intact; everything else of the task is wiped."""
    keys = {c.key for c in task.clips}
    kept = resume_journal(task.journal_path, lambda row: row["key"] in keys and _files_intact(task.out, row))
    keep_files = {Path(row[c]).name for row in kept.values() for c in ("video_path", "audio_path") if row.get(c)}
    if task.clip_dir.is_dir():
        for entry in task.clip_dir.iterdir():
            if entry.name not in keep_files:
                entry.unlink(missing_ok=True)  # renamed in but never journaled, or a stray temp file
    shutil.rmtree(task.work_dir, ignore_errors=True)
    return kept


def _files_intact(out: Path, row: dict) -> bool:
    if row.get("status") != OK:
        return True
    for path_col, size_col in (("video_path", "video_bytes"), ("audio_path", "audio_bytes")):
        p = out / (row.get(path_col) or "")
        if not row.get(path_col) or not p.is_file() or p.stat().st_size != row.get(size_col):
            return False
    return True


def _die_with_parent() -> None:
    """In a multiprocessing worker, ask Linux to kill us when the parent dies (SIGKILL included), so an
    orphaned worker never races the rerun that resumes its task."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        set_parent_death_signal(signal.SIGKILL, parent.pid)


def run_task(task: FetchTask) -> TaskResult:
    """Fetch every clip of ``task``; write its part manifest (the done-marker) last. Idempotent."""
    _die_with_parent()
    # A second attempt of one task (a Spark retry or speculative copy, an orphan of a killed run on another
    # executor) waits for the first instead of racing it, then finds it done.
    task.lock_path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(task.lock_path):
        return _run_task(task)


def _run_task(task: FetchTask) -> TaskResult:
    started = time.monotonic()
    if task.part_path.is_file():
        counts = _status_counts(pq.read_table(task.part_path, columns=["status"]))
        return TaskResult(task.index, len(task.clips), _counts(counts))
    task.part_path.parent.mkdir(parents=True, exist_ok=True)
    rows = _resume(task)
    resumed = len(rows)
    source = make_source(task.options.download)
    filters = build_filters(task.options.filters, dict(task.options.thresholds))
    with Journal(task.journal_path) as journal:
        for downloaded in prefetched([c for c in task.clips if c.key not in rows], task, source):
            row = finish_clip(downloaded, task, filters)
            journal.append(row)
            rows[row["key"]] = row
    table = pa.Table.from_pylist([rows[c.key] for c in task.clips], schema=MANIFEST_SCHEMA)
    _write_table(table, task.part_path)
    task.journal_path.unlink(missing_ok=True)
    shutil.rmtree(task.work_dir, ignore_errors=True)
    task.lock_path.unlink(missing_ok=True)  # safe once done: whoever locks it next finds the part manifest
    return TaskResult(task.index, len(task.clips), _counts(_status_counts(table)), resumed,
                      seconds=round(time.monotonic() - started, 3))


# ----------------------------------------------------------------------------------------------------
# The whole job
# ----------------------------------------------------------------------------------------------------
PLAN_METADATA_KEY = b"valor.fetch.plan"


MERGE_ROW_GROUP = 65_536  # rows per row group of manifest.parquet: what the merge holds in memory at once


def merge_manifest(out_dir: Path, tasks: Sequence[FetchTask], bad_rows: Sequence[BadRow],
                   plan: str = "") -> tuple[dict[str, int], int]:
    """Write manifest.parquet: the part manifests in task order, then the invalid rows; returns the clips
    per status and the fallback count (``process.count_fallbacks``). Streamed in row groups of ``MERGE_ROW_GROUP`` rows, so a million-clip merge holds one
    group in memory, not the whole manifest.

    ``plan`` (the digest of ``fetch_config.json``'s inputs, task size and outputs) is stored in the file's
    metadata: a rerun that finds every task done and this digest in the manifest has nothing to merge."""
    schema = MANIFEST_SCHEMA.with_metadata({PLAN_METADATA_KEY: plan.encode()}) if plan else MANIFEST_SCHEMA
    counts: Counter = Counter()
    fallbacks = 0
    parts = (pq.read_table(t.part_path).cast(MANIFEST_SCHEMA) for t in tasks)
    invalid = pa.Table.from_pylist([bad_row(b) for b in bad_rows], schema=MANIFEST_SCHEMA)
    with atomic_path(out_dir / "manifest.parquet") as tmp, pq.ParquetWriter(tmp, schema) as writer:
        group: list[pa.Table] = []
        rows = 0
        for table in itertools.chain(parts, [invalid]):
            counts += _status_counts(table)
            fallbacks += count_fallbacks(table)
            group.append(table)
            rows += table.num_rows
            if rows >= MERGE_ROW_GROUP:
                writer.write_table(pa.concat_tables(group), row_group_size=rows)  # one row group
                group, rows = [], 0
        if group:
            writer.write_table(pa.concat_tables(group), row_group_size=max(1, rows))
    for t in tasks:  # leftovers of a run killed after a part manifest was written
        t.journal_path.unlink(missing_ok=True)
        t.lock_path.unlink(missing_ok=True)
    shutil.rmtree(out_dir / "_work", ignore_errors=True)
    return _counts(counts), fallbacks


def _merged_counts(manifest: Path, plan: str) -> tuple[dict[str, int], int] | None:
    """What :func:`merge_manifest` returned for ``manifest`` when it was merged for ``plan`` (nothing
    changed since), else None."""
    try:
        meta = pq.read_schema(manifest).metadata or {}
        if meta.get(PLAN_METADATA_KEY) != plan.encode():
            return None
        table = pq.read_table(manifest, columns=["status", "probe"])
        return _counts(_status_counts(table)), count_fallbacks(table)
    except (OSError, pa.ArrowException):
        return None


def _remove_temporaries(out: Path) -> None:
    """Delete the temporary files of writers killed mid-write (a part manifest, the config, the manifest):
    their names carry the dead writer's pid, so no rerun overwrites them. Called with OUT's lock held and
    every task done, when nothing can be writing them."""
    for folder in (out, out / "_tasks"):
        for entry in os.scandir(folder):
            if entry.name.endswith(TMP_SUFFIX):
                Path(entry.path).unlink(missing_ok=True)


@dataclass
class FetchSummary:
    out_dir: str
    manifest: str
    clips: int  # unique valid clips
    invalid_rows: int
    duplicates: int
    tasks: int
    tasks_done_before: int
    clips_resumed: int
    counts: dict[str, int]
    seconds: float
    fallbacks: int = 0  # clips whose media came as a downloaded segment (formats ffmpeg cannot seek directly)

    @property
    def rows(self) -> int:
        return self.clips + self.invalid_rows

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": self.rows}


@contextlib.contextmanager
def _locked(out: Path, wait_s: float = 5.0) -> Iterator[None]:
    """Hold an exclusive lock on OUT for the whole run; forked workers share it, so a rerun cannot start
    while workers of a killed run are still alive."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(out / ".fetch.lock", wait_s):
            yield
    except LockBusy:
        raise FetchBusyError(f"{out} is in use by another fetch (or its workers); wait for it to finish or "
                             "stop it, then rerun") from None


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Move every object alive now (the clips: millions at VALOR-1M scale) out of the garbage collector's
    reach for the run: full collections stop walking them (seconds each), and forked workers stop
    copying the memory pages a collection would touch (the recipe of ``gc.freeze``'s documentation)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_fetch(
    clips: Sequence[ClipRef],
    bad_rows: Sequence[BadRow],
    out_dir: str | os.PathLike,
    options: FetchOptions,
    *,
    duplicates: int = 0,
    task_size: int | None = None,
    distributor: Distributor | None = None,
    on_task: Callable[[TaskResult], None] | None = None,
) -> FetchSummary:
    """Plan, run the unfinished tasks with ``distributor`` (default: serial), merge the manifest.

    The library entry behind ``valor-data fetch``; ``on_task`` sees every task's result (done ones too).
    """
    started = time.monotonic()
    out = require_local(out_dir, "fetch --out").resolve()
    distributor = distributor or get_distributor("serial", 1)
    with _locked(out), _frozen_heap():
        size = task_size or stored_task_size(out) or auto_task_size(len(clips), getattr(distributor, "workers", 1))
        tasks = plan_tasks(clips, out, options, size)
        planned = [c for t in tasks for c in t.clips]
        config = fetch_config(planned, bad_rows, options, size, in_plan_order=True)
        check_config(out, config)
        (out / "_tasks").mkdir(exist_ok=True)
        done = {p.name for p in os.scandir(out / "_tasks") if p.name.endswith(".parquet")}
        pending = [t for t in tasks if t.part_path.name not in done]
        if on_task is not None:
            waiting = {t.index for t in pending}
            for t in tasks:
                if t.index not in waiting:
                    on_task(TaskResult(t.index, len(t.clips), {}))
        resumed = 0
        manifest = out / "manifest.parquet"
        merged = None if pending else _merged_counts(manifest, plan_digest(config))
        if pending:
            manifest.unlink(missing_ok=True)  # stale from now on, until the merge below
            make_source(options.download).prepare()
            for result in distributor.map_unordered(run_task, pending):
                resumed += result.resumed
                if on_task is not None:
                    on_task(result)
        counts, fallbacks = merged or merge_manifest(out, tasks, bad_rows, plan_digest(config))
        _remove_temporaries(out)
    return FetchSummary(
        out_dir=str(out), manifest=str(manifest), clips=len(clips), invalid_rows=len(bad_rows),
        duplicates=duplicates, tasks=len(tasks), tasks_done_before=len(tasks) - len(pending),
        clips_resumed=resumed, counts=counts, seconds=round(time.monotonic() - started, 3), fallbacks=fallbacks)
