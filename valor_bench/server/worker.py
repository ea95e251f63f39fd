"""An evaluation worker: lease a job, score it with the library, record the outcome, repeat.

Scoring is the toolkit's own (``validate_submission`` -> ``evaluate_validated`` against
``load_ground_truth``), so a board number is exactly what ``valor-bench evaluate`` prints for the file.
A heartbeat thread renews the lease every third of its length while the evaluation runs. If the worker
dies (SIGKILL, out of memory) the lease expires and another worker takes the job; after
``max_attempts`` deaths it is failed instead of killing workers forever. An evaluation that outlives
``eval_timeout_seconds`` is failed and the worker process exits (an evaluation cannot be interrupted
from inside; ``serve`` starts a fresh worker).

Each run of a job scores in a private directory of its own, ``DATA/scoring/{submission}-{attempt}``
(mode 0700: the scorers' inputs hold the hidden references), removed when the run ends. A run
killed mid-way leaves it behind, and its processes die with it (``valor_data/child_process.py``); the
next lease removes every directory whose run is over (its job not running at that attempt).

What a team reads about a failure is scrubbed of server paths: the validation problem lines name the
file the team uploaded; any other error is one line, and the host's view keeps the traceback.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import threading
import time
import traceback
from pathlib import Path

from sqlalchemy import select

from valor_bench.avc import CaptionMetricError
from valor_bench.evaluate import evaluate_validated
from valor_bench.ground_truth import GroundTruth, GroundTruthError, load_ground_truth
from valor_bench.metrics import MAIN_METRIC
from valor_bench.server import queue
from valor_bench.server.schema import LATEST, submissions
from valor_bench.server.security import scrub
from valor_bench.server.statuses import SubmissionStatus
from valor_bench.server.store import BlobStore
from valor_bench.validate import validate_submission
from valor_data.web.database import Database, display_url
from valor_data.web.schema import current_version

log = logging.getLogger("valor_bench.server.worker")
TIMEOUT_EXIT = 75


class WorkerSettings:
    """What ``serve`` wrote into the database for the workers (they need nothing but its URL)."""

    def __init__(self, db: Database, data_dir: Path | None = None):
        with db.read() as conn:
            version = current_version(conn)
            cfg = db.get_setting("worker", conn) if version else None
        if version > LATEST:
            raise RuntimeError(f"{display_url(db.url)}: schema version {version} is newer than this valor-bench "
                               f"({LATEST}): upgrade it")
        if version and version < LATEST:
            raise RuntimeError(f"{display_url(db.url)}: schema version {version} is older than this valor-bench "
                               f"({LATEST}): start the new `valor-bench serve` first (it migrates the database)")
        if not cfg:
            raise RuntimeError(f"{display_url(db.url)}: no challenge is set up in this database: start "
                               "`valor-bench serve` on it first")
        self.data_dir = Path(data_dir or cfg["data_dir"])
        self.lease_seconds = float(cfg["lease_seconds"])
        self.max_attempts = int(cfg["max_attempts"])
        self.eval_timeout = float(cfg["eval_timeout_seconds"])
        self.phases: dict[str, dict] = cfg["phases"]


def main_score(task: str, metrics: dict) -> float | None:
    direction, name = MAIN_METRIC[task]
    block = metrics.get(direction) if direction else metrics
    return None if not block else block.get(name)


class Worker:
    def __init__(self, db: Database, data_dir: Path | None = None, worker_id: str | None = None,
                 poll_seconds: float = 1.0):
        self.db = db
        self.settings = WorkerSettings(db, data_dir)
        self.store = BlobStore(self.settings.data_dir)
        self.scratch = self.settings.data_dir / "scoring"
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.poll = poll_seconds
        self.stop = threading.Event()
        self.current: queue.Lease | None = None
        self._gt: dict[str, GroundTruth] = {}

    # ------------------------------------------------------------------------------------------ the loop
    def run(self, max_jobs: int | None = None, exit_when_idle: bool = False) -> int:
        """Work until stopped (or ``max_jobs`` done, or the queue is empty with ``exit_when_idle``)."""
        done = 0
        while not self.stop.is_set() and (max_jobs is None or done < max_jobs):
            lease = queue.lease_next(self.db, self.id, self.settings.lease_seconds, self.settings.max_attempts)
            if lease is None:
                if exit_when_idle:
                    break
                self.stop.wait(self.poll)
                continue
            self.current = lease
            if self.stop.is_set():  # stopped while the lease was being taken, unseen by run_worker's handler
                queue.release(self.db, lease, f"worker {self.id} stopped; queued again")
                break
            try:
                self.process(lease)
            finally:
                self.current = None
            done += 1
        return done

    def process(self, lease: queue.Lease) -> None:
        lost = threading.Event()
        finished = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(lease, lost, finished), daemon=True,
                                name=f"lease-{lease.submission_id}")
        beat.start()
        started = time.monotonic()
        workdir = self.scratch / f"{lease.submission_id}-{lease.attempt}"
        try:
            self._make_private_dir(workdir)
            outcome = self._evaluate(lease, workdir)
        finally:
            finished.set()
            beat.join()
            shutil.rmtree(workdir, ignore_errors=True)
        if lost.is_set():
            log.warning("submission %s: lease lost while scoring; the result is discarded", lease.submission_id)
            return
        kind, payload = outcome
        if kind == SubmissionStatus.FINISHED:
            result, score = payload
            recorded = queue.finish(self.db, lease, result, score)
        else:
            error, detail, problems = payload
            recorded = queue.fail(self.db, lease, error, detail, problems)
        log.info("submission %s %s in %.1f s%s", lease.submission_id, kind, time.monotonic() - started,
                 "" if recorded else " (not recorded: the lease was lost)")

    def _heartbeat(self, lease: queue.Lease, lost: threading.Event, finished: threading.Event) -> None:
        every = self.settings.lease_seconds / 3
        deadline = time.monotonic() + self.settings.eval_timeout
        while not finished.wait(every):
            if time.monotonic() > deadline:
                message = (f"evaluation took longer than {self.settings.eval_timeout:g} s "
                           "(eval_timeout_seconds) and was stopped")
                queue.fail(self.db, lease, message)
                log.error("submission %s: %s; this worker exits", lease.submission_id, message)
                os._exit(TIMEOUT_EXIT)
            try:
                if not queue.renew(self.db, lease, self.settings.lease_seconds):
                    lost.set()
                    return
            except Exception as e:  # the database is unreachable for a moment: try again next beat
                log.warning("submission %s: could not renew the lease (%s)", lease.submission_id, e)

    # ------------------------------------------------------------------------------ the job's directory
    def _make_private_dir(self, workdir: Path) -> None:
        """A fresh 0700 directory for this run, made after removing those of runs that are over."""
        self.scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.scratch, 0o700)
        try:
            self._remove_ended_runs()
        except Exception as e:  # housekeeping: the database is unreachable for a moment, the next lease does it
            log.warning("could not look for the directories of ended runs (%s)", e)
        shutil.rmtree(workdir, ignore_errors=True)  # a run handed back (SIGTERM) keeps its attempt number
        workdir.mkdir(mode=0o700)

    def _remove_ended_runs(self) -> None:
        """Remove the directories of runs whose job is not running at that attempt (killed runs)."""
        runs = {}
        for d in self.scratch.iterdir():  # listed before the query: a run that starts meanwhile is kept
            sid, _, attempt = d.name.partition("-")
            runs[d] = (int(sid), int(attempt)) if sid.isdigit() and attempt.isdigit() else None
        if not runs:
            return
        ids = {r[0] for r in runs.values() if r}
        with self.db.read() as conn:
            live = {(r.id, r.attempts) for r in conn.execute(select(submissions.c.id, submissions.c.attempts).where(
                submissions.c.id.in_(ids), submissions.c.status == SubmissionStatus.RUNNING))}
        for d, run in runs.items():
            if run not in live:
                log.info("removing %s, left by a run that ended without cleaning up", d)
                shutil.rmtree(d, ignore_errors=True)

    # ------------------------------------------------------------------------------------- the scoring
    def ground_truth(self, phase: str) -> GroundTruth:
        if phase not in self._gt:
            ref = self.settings.phases[phase]
            gt = load_ground_truth(ref.get("split"), ref.get("annotations"))
            if gt.sha256 != ref["gt_sha256"]:
                raise GroundTruthError(f"{gt.path}: sha256 {gt.sha256[:12]} differs from {ref['gt_sha256'][:12]}, "
                                       "the file the server started with (changed since, or another copy)")
            self._gt[phase] = gt
        return self._gt[phase]

    def _evaluate(self, lease: queue.Lease, workdir: Path) -> tuple[SubmissionStatus, tuple]:
        path = self.store.path(lease.blob_sha256, lease.blob_ext)
        hide = {str(path): lease.filename, str(path.parent): "", str(self.store.root): "<server data>"}
        try:
            gt = self.ground_truth(lease.phase)
        except (GroundTruthError, FileNotFoundError, OSError, KeyError) as e:
            return SubmissionStatus.FAILED, (f"the ground truth of phase {lease.phase} could not be loaded on the server; the host "
                              "can see why", f"{type(e).__name__}: {e}", None)
        hide.update({str(gt.path): "<ground truth>", gt.path.name: "<ground truth>"})
        if not path.is_file():
            return SubmissionStatus.FAILED, ("the uploaded file is missing from the server's store; submit it again",
                              f"{path} not found", None)
        try:
            v = validate_submission(path, lease.task, gt, lease.metadata)
            if not v.ok:
                lines = [scrub(f"{lease.filename}: {p}", hide) for p in v.problems]
                n = len(v.problems)
                return SubmissionStatus.FAILED, (f"not a valid {lease.task.upper()} submission ({n} problem{'s' if n != 1 else ''}); "
                                  "nothing was scored", None, lines)
            ev = evaluate_validated(v, gt, workdir=workdir)
        except (CaptionMetricError, ValueError) as e:
            return SubmissionStatus.FAILED, (scrub(f"scoring failed: {e}", hide), traceback.format_exc(), None)
        except Exception as e:  # a bug: the team gets one line, the host the traceback
            return SubmissionStatus.FAILED, (f"scoring failed with an internal error ({type(e).__name__}); the host can see the "
                              "details", traceback.format_exc(), None)
        result = ev.as_json()
        result["notes"] = [scrub(n, hide) for n in result.get("notes", [])]
        return SubmissionStatus.FINISHED, (result, main_score(lease.task, ev.metrics))


def run_worker(db_url: str, data_dir: Path | None = None, poll_seconds: float = 1.0) -> None:
    """``valor-bench worker``: work until SIGTERM/SIGINT. A job in progress then goes back to the queue at
    once (not after its lease expires) and the process exits."""
    db = Database(db_url)
    worker = Worker(db, data_dir, poll_seconds=poll_seconds)

    def abandon(lease: queue.Lease) -> None:
        try:
            queue.release(db, lease, f"worker {worker.id} stopped; queued again")
        finally:
            os._exit(0)

    def stop(signum, _frame) -> None:
        worker.stop.set()
        lease = worker.current
        if lease is not None:  # a thread, so that a transaction this thread holds can finish first
            threading.Thread(target=abandon, args=(lease,), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker %s: leasing jobs from %s (lease %.0f s)", worker.id, display_url(db.url),
             worker.settings.lease_seconds)
    worker.run()
