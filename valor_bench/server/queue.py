"""The evaluation queue lives in the ``submissions`` table: a durable queue with leases.

A worker *leases* the oldest job it may run: a queued submission whose team has nothing running, or a
running one whose lease expired (its worker died). The lease is a random token and an expiry time on the
database clock; the worker renews it while it lives. Every outcome is written with ``WHERE lease_token =
:mine AND status = running``, so a worker whose lease was taken over (it stalled past its expiry) finds
its result refused: each run of a submission is recorded exactly once, whatever dies when.

Claiming is the web kit's (``valor_data.web.leases.claim``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite). The unique index ``one_running_per_team`` makes "one evaluation at a time
per team" a database fact; a worker that loses that race rolls back and takes the next job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, exists, insert, or_, select, update
from sqlalchemy.engine import Row

from valor_bench.server.schema import events, submissions
from valor_bench.server.statuses import DONE, SubmissionStatus
from valor_data.web.database import Database
from valor_data.web.leases import claim, new_lease_token

S = submissions.c


@dataclass(frozen=True)
class Lease:
    submission_id: int
    token: str
    owner: str
    attempt: int
    team_id: int
    phase: str
    task: str
    blob_sha256: str
    blob_ext: str
    filename: str
    metadata: dict


def add_event(conn: Connection, db: Database, submission_id: int, status: str, detail: str | None = None,
              actor: str | None = None) -> None:
    """Record what happened to a submission: the status it entered, or a host's action on it."""
    conn.execute(insert(events).values(submission_id=submission_id, at=select(db.now()).scalar_subquery(),
                                       status=status, detail=detail, actor=actor))


def _candidate(db: Database):
    running = submissions.alias("r")
    now = db.now()
    team_busy = exists().where(and_(running.c.team_id == S.team_id, running.c.status == SubmissionStatus.RUNNING))
    return (select(S.id, S.status, S.attempts)
            .where(or_(and_(S.status == SubmissionStatus.QUEUED, ~team_busy),
                       and_(S.status == SubmissionStatus.RUNNING, S.lease_expires_at < now)))
            .order_by(case((S.status == SubmissionStatus.RUNNING, 0), else_=1), S.id)
            .limit(1))


def lease_next(db: Database, owner: str, lease_seconds: float, max_attempts: int) -> Lease | None:
    """Claim the next job for ``owner``; None when there is nothing to do."""

    def take(conn: Connection, row: Row) -> Lease | None:
        expired = row.status == SubmissionStatus.RUNNING
        if expired and row.attempts >= max_attempts:
            _give_up(conn, db, row.id, row.attempts)
            return None
        token = new_lease_token()
        detail = f"attempt {row.attempts + 1}" + (" (the previous worker's lease expired)" if expired else "")
        conn.execute(update(submissions).where(S.id == row.id).values(
            status=SubmissionStatus.RUNNING, lease_token=token, lease_owner=owner, attempts=S.attempts + 1,
            lease_expires_at=db.now() + lease_seconds, started_at=db.now()))
        add_event(conn, db, row.id, SubmissionStatus.RUNNING, detail, owner)
        sub = conn.execute(select(submissions).where(S.id == row.id)).one()
        return Lease(sub.id, token, owner, sub.attempts, sub.team_id, sub.phase, sub.task, sub.blob_sha256,
                     sub.blob_ext, sub.filename, {"model_name": sub.model_name, "modality": sub.modality,
                                                  "external_data": sub.external_data, "url": sub.url})

    return claim(db, _candidate(db), take, lock=submissions)


def _give_up(conn: Connection, db: Database, submission_id: int, attempts: int) -> None:
    message = (f"evaluation was interrupted {attempts} times (its worker died each time, e.g. out of memory); "
               "not retried")
    conn.execute(update(submissions).where(S.id == submission_id).values(
        status=SubmissionStatus.FAILED, error=message, error_detail=message, finished_at=db.now(), lease_token=None,
        lease_expires_at=None, runs=S.runs + 1))
    add_event(conn, db, submission_id, SubmissionStatus.FAILED, message, "queue")


def _mine(lease: Lease):
    return and_(S.id == lease.submission_id, S.lease_token == lease.token, S.status == SubmissionStatus.RUNNING)


def renew(db: Database, lease: Lease, lease_seconds: float) -> bool:
    """Extend the lease; False when it is no longer ours (expired and taken, or the job was re-queued)."""
    with db.write() as conn:
        res = conn.execute(update(submissions).where(_mine(lease)).values(lease_expires_at=db.now() + lease_seconds))
        return res.rowcount == 1


def finish(db: Database, lease: Lease, result: dict, main_score: float | None) -> bool:
    """Record the scores; False (nothing written) when the lease was lost."""
    coverage = result.get("coverage") or {}
    with db.write() as conn:
        res = conn.execute(update(submissions).where(_mine(lease)).values(
            status=SubmissionStatus.FINISHED, finished_at=db.now(), result_json=json.dumps(result), main_score=main_score,
            coverage_digest=coverage.get("digest"), coverage_partial=bool(coverage.get("partial")) if coverage else None,
            problems_json=None, error=None, error_detail=None, lease_token=None, lease_expires_at=None,
            runs=S.runs + 1))
        if res.rowcount != 1:
            return False
        add_event(conn, db, lease.submission_id, SubmissionStatus.FINISHED, None, lease.owner)
        return True


def fail(db: Database, lease: Lease, error: str, detail: str | None = None, problems: list[str] | None = None) -> bool:
    """Record a failure (validation problems, or an error); False when the lease was lost."""
    with db.write() as conn:
        res = conn.execute(update(submissions).where(_mine(lease)).values(
            status=SubmissionStatus.FAILED, finished_at=db.now(), error=error, error_detail=detail or error,
            problems_json=json.dumps(problems) if problems else None, result_json=None, main_score=None,
            lease_token=None, lease_expires_at=None, runs=S.runs + 1))
        if res.rowcount != 1:
            return False
        add_event(conn, db, lease.submission_id, SubmissionStatus.FAILED, error, lease.owner)
        return True


def release(db: Database, lease: Lease, why: str) -> bool:
    """Hand a job back to the queue untouched (a worker asked to stop); it does not count as an attempt."""
    with db.write() as conn:
        res = conn.execute(update(submissions).where(_mine(lease)).values(
            status=SubmissionStatus.QUEUED, lease_token=None, lease_owner=None, lease_expires_at=None,
            attempts=S.attempts - 1))
        if res.rowcount != 1:
            return False
        add_event(conn, db, lease.submission_id, SubmissionStatus.QUEUED, why, lease.owner)
        return True


def requeue(conn: Connection, db: Database, submission_id: int, actor: str) -> bool:
    """Run a finished or failed submission again (host action); its old outcome stays until the new one."""
    res = conn.execute(update(submissions).where(and_(S.id == submission_id, S.status.in_(DONE)))
                       .values(status=SubmissionStatus.QUEUED, attempts=0, lease_token=None, lease_owner=None,
                               lease_expires_at=None))
    if res.rowcount != 1:
        return False
    add_event(conn, db, submission_id, SubmissionStatus.QUEUED, "re-run requested", actor)
    return True
