"""``fetch``: plan clips into tasks, run each task (download -> probe -> filter -> normalise), merge manifests.

Output layout of ``OUT`` (the contract ``shard``, Spark and the demo rely on)::

    OUT/fetch_config.json              options that shape the outputs + input fingerprint (reruns must match)
    OUT/manifest.parquet               one row per input clip, clip.MANIFEST_SCHEMA, sorted like the plan
    OUT/clips/{task:05d}/{key}.mp4     H.264 video, no audio        (only for status == "ok")
    OUT/clips/{task:05d}/{key}.flac    FLAC audio
    OUT/_tasks/{task:05d}.parquet      a finished task's rows: its done-marker, written last, atomically
    OUT/_tasks/{task:05d}.journal/     per-clip rows of an unfinished task ({key}.json), for resuming
    OUT/_work/{task:05d}/              scratch (downloads, temp outputs); deleted when the task finishes
    OUT/_errors/{task:05d}.log         tracebacks of clips whose status is ``error`` (a bug): kept

Resumability (SIGKILL at any moment): media are written under ``_work`` and renamed into ``clips`` only when
complete; a clip's journal row is written (tmp + rename) only after its files are in place; the task's
part manifest is written (tmp + fsync + rename) only after every clip has a row. A rerun skips tasks with a
part manifest; an unfinished task keeps the journaled clips whose files are intact, deletes every other
file in its clip folder and its scratch, and does the rest. So no clip is lost, none is done twice, and no
partial file is ever taken as done.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from valor_data.atomic import LockBusy, atomic_write_bytes, atomic_write_text, exclusive_lock
from valor_data.clip import MANIFEST_SCHEMA, OK, STATUSES, ClipRef, Status
from valor_data.engines.distributor import Distributor, get_distributor
from valor_data.engines.storage import require_local
from valor_data.fetch.failures import ClipFailure
from valor_data.fetch.filters import DEFAULT_FILTERS, ClipFilter, apply_filters, build_filters
from valor_data.fetch.normalize import NormalizeOptions, normalize
from valor_data.fetch.probe import ProbeError, probe_media
from valor_data.fetch.sources import DownloadOptions, Segment, Source, make_source, retry_transient
from valor_data.inputs import BadRow

CONFIG_VERSION = 1
MAX_AUTO_TASK_SIZE = 100


class FetchConfigError(Exception):
    """OUT was made with options or inputs that differ from this run's."""


class FetchBusyError(Exception):
    """Another fetch (or its workers) is writing to the same OUT."""


# ----------------------------------------------------------------------------------------------------
# Options and tasks (picklable: they travel to worker processes, later to Spark executors)
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FetchOptions:
    download: DownloadOptions = field(default_factory=DownloadOptions)
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    filters: tuple[str, ...] = DEFAULT_FILTERS
    thresholds: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        build_filters(self.filters, dict(self.thresholds))  # fail loudly now, not in a worker

    def output_config(self) -> dict:
        """The options that change what lands in OUT; a rerun must not change them."""
        d = self.download
        return {
            "format": d.format,
            "max_filesize": d.max_filesize,
            "max_duration": d.max_duration,
            "filters": list(self.filters),
            "thresholds": dict(sorted(self.thresholds)),
            "normalize": {k: v for k, v in asdict(self.normalize).items() if k != "timeout_s"},
        }

    def run_config(self) -> dict:
        """Options that may change between runs (where and how to download), recorded for information;
        no secrets: the proxy loses its user:password, yt-dlp parameters keep only their names."""
        d = asdict(self.download)
        d["ytdlp_params"] = sorted(k for k, _ in self.download.ytdlp_params)
        if d["proxy"]:
            d["proxy"] = re.sub(r"//[^/@]*@", "//***@", d["proxy"])
        for k in ("format", "max_filesize", "max_duration"):
            d.pop(k)
        return d


@dataclass(frozen=True)
class FetchTask:
    """One unit of work, retry and resume: a slice of the sorted clips and where its outputs go."""

    index: int
    out_dir: str
    clips: tuple[ClipRef, ...]
    options: FetchOptions

    @property
    def name(self) -> str:
        return f"{self.index:05d}"

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    @property
    def part_path(self) -> Path:
        return self.out / "_tasks" / f"{self.name}.parquet"

    @property
    def journal_dir(self) -> Path:
        return self.out / "_tasks" / f"{self.name}.journal"

    @property
    def clip_dir(self) -> Path:
        return self.out / "clips" / self.name

    @property
    def work_dir(self) -> Path:
        return self.out / "_work" / self.name

    @property
    def error_log(self) -> Path:
        """Tracebacks of this task's unexpected errors (status ``error``): kept after the run."""
        return self.out / "_errors" / f"{self.name}.log"

    @property
    def lock_path(self) -> Path:
        return self.out / "_tasks" / f"{self.name}.lock"

    def media_paths(self, clip: ClipRef) -> tuple[str, str]:
        """Video and audio paths relative to OUT (POSIX separators, as stored in the manifest)."""
        return f"clips/{self.name}/{clip.key}.mp4", f"clips/{self.name}/{clip.key}.flac"


@dataclass
class TaskResult:
    index: int
    clips: int
    counts: dict[str, int]
    resumed: int = 0  # clips taken over from an interrupted run's journal
    already_done: bool = False
    seconds: float = 0.0


def auto_task_size(n_clips: int, workers: int = 4) -> int:
    """About four tasks per worker (balance) of several clips each (downloads prefetched within a task),
    at most 100 clips per task. Chosen on the first run and kept in fetch_config.json for the reruns."""
    return max(1, min(MAX_AUTO_TASK_SIZE, math.ceil(n_clips / (4 * max(1, workers)))))


def plan_tasks(clips: Iterable[ClipRef], out_dir: str | os.PathLike, options: FetchOptions,
               task_size: int) -> list[FetchTask]:
    """Sort the clips (ytid, start, end) and cut them into tasks of ``task_size``: deterministic."""
    ordered = sorted(clips)
    out = str(Path(out_dir).resolve())
    return [FetchTask(i, out, tuple(ordered[o:o + task_size]), options)
            for i, o in enumerate(range(0, len(ordered), task_size))]


# ----------------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------------
def _row(clip: ClipRef) -> dict:
    return {
        "clip_id": clip.clip_id, "key": clip.key, "ytid": clip.ytid, "start": clip.start, "end": clip.end,
        "labels": list(clip.labels), "captions": list(clip.captions),
        "source": f"{clip.source}:{clip.line}" if clip.source else None,
        "status": None, "message": None, "attempts": 0, "download_s": None, "process_s": None,
        "video_bytes": None, "audio_bytes": None, "video_path": None, "audio_path": None,
        "probe": None, "shard": None,
    }


def bad_row(bad: BadRow) -> dict:
    """The manifest row of a malformed input row: no key, status invalid_id, message 'file:line: why'."""
    return {**{name: None for name in MANIFEST_SCHEMA.names}, "clip_id": bad.raw, "labels": [], "captions": [],
            "source": bad.where, "status": Status.INVALID_ID, "message": f"{bad.where}: {bad.message}", "attempts": 0}


def _fail(row: dict, failure: ClipFailure) -> dict:
    row["status"], row["message"] = failure.reason, failure.message
    return row


# ----------------------------------------------------------------------------------------------------
# One clip
# ----------------------------------------------------------------------------------------------------
def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _output_facts(video: Path, audio: Path) -> dict:
    import av

    out: dict = {}
    with av.open(str(video)) as c:
        v = c.streams.video[0]
        rate = v.average_rate or v.guessed_rate
        out.update(width=v.codec_context.width, height=v.codec_context.height,
                   fps=round(float(rate), 4) if rate else None, frames=v.frames or None,
                   duration=round(c.duration / 1e6, 4) if c.duration else None)
    with av.open(str(audio)) as c:
        a = c.streams.audio[0]
        out.update(sample_rate=a.codec_context.sample_rate, channels=a.codec_context.channels,
                   audio_duration=round(c.duration / 1e6, 4) if c.duration else None)
    return {k: v for k, v in out.items() if v is not None}


@dataclass
class Downloaded:
    """A clip's download outcome: its segment, or the failure that ended its attempts."""

    clip: ClipRef
    segment: Segment | None
    failure: ClipFailure | None
    attempts: int
    seconds: float


def download_clip(clip: ClipRef, task: FetchTask, source: Source) -> Downloaded:
    """Fetch one clip's segment into its scratch folder, retrying transient failures; never raises."""
    work = task.work_dir / clip.key
    d = task.options.download
    started = time.monotonic()
    try:
        segment, attempts = retry_transient(lambda n: source.fetch(clip, _fresh_dir(work)), d.retries,
                                            d.retry_wait, d.retry_max_wait)
        return Downloaded(clip, segment, None, attempts, round(time.monotonic() - started, 3))
    except ClipFailure as failure:
        return Downloaded(clip, None, failure, getattr(failure, "attempts", 1), round(time.monotonic() - started, 3))
    except Exception as e:  # a bug or an environment problem: recorded, the task goes on
        return Downloaded(clip, None, unexpected_error(task, clip, e), 1, round(time.monotonic() - started, 3))


def unexpected_error(task: FetchTask, clip: ClipRef, exc: Exception) -> ClipFailure:
    """Status ``error`` for an exception nobody classified (a bug, a full disk): the message names the
    exception and where it was raised, the whole traceback goes to the task's ``_errors/`` log."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno} in {where[0].name}" if where else ""
    log = task.error_log
    with contextlib.suppress(OSError):  # the log is a diagnostic: failing to write it loses nothing else
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"=== {clip.clip_id} ({clip.key}) {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
            f.write("".join(traceback.format_exception(exc)))
    return ClipFailure(Status.ERROR, f"{type(exc).__name__}: {exc}{at} (traceback in "
                                     f"{log.relative_to(task.out).as_posix()})")


def finish_clip(downloaded: Downloaded, task: FetchTask, filters: Sequence[ClipFilter]) -> dict:
    """Probe, filter and normalise a downloaded clip, move its files into place; returns its manifest row
    and never raises ClipFailure (an unexpected exception becomes status ``error`` with the exception)."""
    clip, segment = downloaded.clip, downloaded.segment
    row = _row(clip)
    row.update(attempts=downloaded.attempts, download_s=downloaded.seconds)
    work = task.work_dir / clip.key
    opts = task.options
    processing = time.monotonic()
    try:
        if downloaded.failure is not None:
            return _fail(row, downloaded.failure)
        try:
            facts = probe_media(segment.path, segment.start, segment.start + segment.duration)
        except ProbeError as e:
            raise ClipFailure(Status.DECODE_ERROR, str(e)) from None
        probe = facts.to_dict()
        row["probe"] = json.dumps(probe, sort_keys=True)
        max_duration = opts.download.max_duration
        if segment.whole_video and max_duration and (facts.source_duration or 0) > max_duration:
            raise ClipFailure(Status.TOO_LONG, f"the video lasts {facts.source_duration:g} s > --max-duration "
                                          f"{max_duration:g} s")
        rejection = apply_filters(filters, facts)
        if rejection is not None:
            raise ClipFailure(rejection.reason, rejection.message)
        work.mkdir(parents=True, exist_ok=True)
        tmp_video, tmp_audio = work / "video.mp4.part", work / "audio.flac.part"
        normalize(segment.path, tmp_video, tmp_audio, opts.normalize, duration=segment.duration,
                  start=segment.start if segment.whole_video else None, source_fps=facts.fps)
        probe["output"] = _output_facts(tmp_video, tmp_audio)
        row["probe"] = json.dumps(probe, sort_keys=True)
        video_rel, audio_rel = task.media_paths(clip)
        task.clip_dir.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_video, task.out / video_rel)
        os.replace(tmp_audio, task.out / audio_rel)
        row.update(status=OK, video_path=video_rel, audio_path=audio_rel,
                   video_bytes=(task.out / video_rel).stat().st_size,
                   audio_bytes=(task.out / audio_rel).stat().st_size)
    except ClipFailure as failure:
        _fail(row, failure)
    except Exception as e:  # a bug or an environment problem: recorded, the task goes on
        _fail(row, unexpected_error(task, clip, e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row["process_s"] = round(time.monotonic() - processing, 3)
    return row


def process_clip(clip: ClipRef, task: FetchTask, source: Source, filters: Sequence[ClipFilter]) -> dict:
    """Download, probe, filter and normalise one clip: its manifest row."""
    return finish_clip(download_clip(clip, task, source), task, filters)


def prefetched(clips: Sequence[ClipRef], task: FetchTask, source: Source) -> Iterator[Downloaded]:
    """Downloads in one background thread, one clip ahead: the next clip's (network-bound) download
    overlaps the current clip's (CPU-bound) probe and normalisation."""
    if not clips:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="valor-prefetch") as pool:
        future = pool.submit(download_clip, clips[0], task, source)
        for nxt in clips[1:]:
            done = future.result()
            future = pool.submit(download_clip, nxt, task, source)
            yield done
        yield future.result()


# ----------------------------------------------------------------------------------------------------
# One task (module-level and picklable: what a distributor runs)
# ----------------------------------------------------------------------------------------------------
def _write_table(table: pa.Table, path: Path) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def _counts(statuses: Iterable[str]) -> dict[str, int]:
    c = Counter(statuses)
    return {s: c[s] for s in STATUSES if c[s]}


def _resume(task: FetchTask) -> dict[str, dict]:
    """Rows journaled by an interrupted run whose files are intact; everything else of the task is wiped."""
    keys = {c.key for c in task.clips}
    kept: dict[str, dict] = {}
    if task.journal_dir.is_dir():
        for entry in sorted(task.journal_dir.iterdir()):
            if entry.suffix != ".json":
                entry.unlink(missing_ok=True)  # a journal row cut short by the kill
                continue
            try:
                row = json.loads(entry.read_text())
            except (OSError, ValueError):
                entry.unlink(missing_ok=True)
                continue
            if row.get("key") not in keys or not _files_intact(task.out, row):
                entry.unlink(missing_ok=True)
                continue
            kept[row["key"]] = row
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


def _journal(task: FetchTask, row: dict) -> None:
    task.journal_dir.mkdir(parents=True, exist_ok=True)
    # Not synced: a journal row lost to a power cut only means that clip is fetched again.
    atomic_write_text(task.journal_dir / f"{row['key']}.json", json.dumps(row, sort_keys=True), sync=False)


def _die_with_parent() -> None:
    """In a multiprocessing worker, ask Linux to kill us when the parent dies (SIGKILL included), so an
    orphaned worker never races the rerun that resumes its task."""
    if multiprocessing.parent_process() is None or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


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
        statuses = pq.read_table(task.part_path, columns=["status"]).column("status").to_pylist()
        return TaskResult(task.index, len(task.clips), _counts(statuses), already_done=True)
    task.part_path.parent.mkdir(parents=True, exist_ok=True)
    rows = _resume(task)
    resumed = len(rows)
    source = make_source(task.options.download)
    filters = build_filters(task.options.filters, dict(task.options.thresholds))
    for downloaded in prefetched([c for c in task.clips if c.key not in rows], task, source):
        row = finish_clip(downloaded, task, filters)
        _journal(task, row)
        rows[row["key"]] = row
    table = pa.Table.from_pylist([rows[c.key] for c in task.clips], schema=MANIFEST_SCHEMA)
    _write_table(table, task.part_path)
    shutil.rmtree(task.journal_dir, ignore_errors=True)
    shutil.rmtree(task.work_dir, ignore_errors=True)
    task.lock_path.unlink(missing_ok=True)  # safe once done: whoever locks it next finds the part manifest
    return TaskResult(task.index, len(task.clips), _counts(table.column("status").to_pylist()), resumed,
                      seconds=round(time.monotonic() - started, 3))


# ----------------------------------------------------------------------------------------------------
# The whole job
# ----------------------------------------------------------------------------------------------------
def input_fingerprint(clips: Sequence[ClipRef], bad_rows: Sequence[BadRow]) -> str:
    h = hashlib.sha256()
    for c in sorted(clips):
        h.update(json.dumps([c.key, list(c.labels), list(c.captions)]).encode())
    for b in bad_rows:
        h.update(json.dumps([b.raw, b.message]).encode())
    return h.hexdigest()


def _stored_task_size(out_dir: Path) -> int | None:
    try:
        return int(json.loads((out_dir / "fetch_config.json").read_text())["task_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_config(out_dir: Path, config: dict) -> None:
    """Write ``fetch_config.json`` on the first run; on a rerun refuse any change that alters the outputs."""
    path = out_dir / "fetch_config.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError as e:
            raise FetchConfigError(f"{path} is not valid JSON ({e}); remove it only if OUT is empty") from None
        diffs = []
        for section in ("inputs", "task_size", "outputs"):
            if old.get(section) != config[section]:
                diffs.append(f"{section}: was {json.dumps(old.get(section))}, now {json.dumps(config[section])}")
        if diffs:
            raise FetchConfigError(
                f"{out_dir} holds a fetch with different inputs or options; rerun with the same ones to resume, "
                f"or choose another --out. Differences: " + "; ".join(diffs))
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def merge_manifest(out_dir: Path, tasks: Sequence[FetchTask], bad_rows: Sequence[BadRow]) -> pa.Table:
    """Concatenate the part manifests in task order, then the invalid rows; write manifest.parquet."""
    tables = [pq.read_table(t.part_path).cast(MANIFEST_SCHEMA) for t in tasks]
    tables.append(pa.Table.from_pylist([bad_row(b) for b in bad_rows], schema=MANIFEST_SCHEMA))
    table = pa.concat_tables(tables)
    _write_table(table, out_dir / "manifest.parquet")
    for t in tasks:  # leftovers of a run killed after a part manifest was written
        shutil.rmtree(t.journal_dir, ignore_errors=True)
        t.lock_path.unlink(missing_ok=True)
    shutil.rmtree(out_dir / "_work", ignore_errors=True)
    return table


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


def fetch_config(clips: Sequence[ClipRef], bad_rows: Sequence[BadRow], options: FetchOptions,
                 task_size: int) -> dict:
    """What ``fetch_config.json`` records: inputs fingerprint, task size, output-shaping and run options."""
    return {
        "version": CONFIG_VERSION,
        "inputs": {"clips": len(clips), "invalid_rows": len(bad_rows),
                   "sha256": input_fingerprint(clips, bad_rows)},
        "task_size": task_size,
        "outputs": options.output_config(),
        "run": options.run_config(),
    }


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
    with _locked(out):
        size = task_size or _stored_task_size(out) or auto_task_size(len(clips), getattr(distributor, "workers", 1))
        tasks = plan_tasks(clips, out, options, size)
        check_config(out, fetch_config(clips, bad_rows, options, size))
        (out / "_tasks").mkdir(exist_ok=True)
        pending = [t for t in tasks if not t.part_path.is_file()]
        if on_task is not None:
            waiting = {t.index for t in pending}
            for t in tasks:
                if t.index not in waiting:
                    on_task(TaskResult(t.index, len(t.clips), {}, already_done=True))
        resumed = 0
        if pending:
            import av  # noqa: F401  (imported once here; forked workers inherit it)

            make_source(options.download).prepare()
            for result in distributor.map_unordered(run_task, pending):
                resumed += result.resumed
                if on_task is not None:
                    on_task(result)
        table = merge_manifest(out, tasks, bad_rows)
    return FetchSummary(
        out_dir=str(out), manifest=str(out / "manifest.parquet"), clips=len(clips), invalid_rows=len(bad_rows),
        duplicates=duplicates, tasks=len(tasks), tasks_done_before=len(tasks) - len(pending),
        clips_resumed=resumed, counts=_counts(table.column("status").to_pylist()),
        seconds=round(time.monotonic() - started, 3))
