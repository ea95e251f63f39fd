"""The queue's guarantees on SQLite and on a throwaway PostgreSQL: a job is leased by one worker at a time,
one evaluation per team, an expired lease is taken over and the stale worker's result refused, renewals,
hand-backs, re-runs, and jobs that kill their workers failed after max_attempts."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import insert, select, update

from valor_bench.server import queue
from valor_bench.server.schema import LATEST, MIGRATIONS, events, submissions, teams
from valor_data.web.database import Database
from valor_data.web.schema import SchemaTooNew, schema_version

LEASE = 30.0


def _db(url: str) -> Database:
    db = Database(url)
    with db.write() as conn:
        MIGRATIONS.apply(conn)
    return db


def _team(db: Database, name: str) -> int:
    with db.write() as conn:
        return conn.execute(insert(teams).values(name=name, name_key=name, token_hash=hashlib.sha256(name.encode()).hexdigest(),
                                                 status="approved", created_at=0.0)).inserted_primary_key[0]


def _job(db: Database, team_id: int) -> int:
    with db.write() as conn:
        return conn.execute(insert(submissions).values(
            team_id=team_id, phase="val", task="avr", status="queued", blob_sha256="0" * 64, blob_ext=".npz",
            filename="x.npz", size_bytes=1, model_name="m", created_at=0.0, attempts=0, runs=0,
            hidden=False)).inserted_primary_key[0]


def _statuses(db: Database, sid: int) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(select(events.c.status).where(events.c.submission_id == sid)
                                 .order_by(events.c.id)).scalars())


def _expire(db: Database, sid: int) -> None:
    with db.write() as conn:
        conn.execute(update(submissions).where(submissions.c.id == sid).values(lease_expires_at=0.0))


def test_concurrent_workers_lease_each_job_once(db_url):
    db = _db(db_url)
    jobs = [_job(db, _team(db, f"team{i}")) for i in range(12)]
    leased: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while True:
            lease = queue.lease_next(db, name, LEASE, 3)
            if lease is None:
                return
            with lock:
                leased.append(lease.submission_id)
            assert queue.finish(db, lease, {"metrics": {}}, None)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(leased) == jobs  # every job once, none twice
    for sid in jobs:
        assert _statuses(db, sid) == ["running", "finished"]
    db.dispose()


def test_one_evaluation_at_a_time_per_team(db_url):
    db = _db(db_url)
    a, b = _team(db, "a"), _team(db, "b")
    a1, a2, b1 = _job(db, a), _job(db, a), _job(db, b)
    first = queue.lease_next(db, "w1", LEASE, 3)
    second = queue.lease_next(db, "w2", LEASE, 3)
    assert (first.submission_id, second.submission_id) == (a1, b1)  # a2 waits for a1
    assert queue.lease_next(db, "w3", LEASE, 3) is None
    queue.finish(db, first, {"metrics": {}}, None)
    assert queue.lease_next(db, "w3", LEASE, 3).submission_id == a2
    db.dispose()


def test_expired_lease_taken_over_and_stale_result_refused(db_url):
    db = _db(db_url)
    sid = _job(db, _team(db, "a"))
    stale = queue.lease_next(db, "dead-worker", LEASE, 3)
    assert queue.lease_next(db, "w2", LEASE, 3) is None  # a live lease is not taken
    _expire(db, sid)
    fresh = queue.lease_next(db, "w2", LEASE, 3)
    assert fresh.submission_id == sid and fresh.attempt == 2 and fresh.token != stale.token
    assert not queue.renew(db, stale, LEASE)
    assert not queue.finish(db, stale, {"metrics": {"stale": 1}}, 1.0)
    assert not queue.fail(db, stale, "stale")
    assert queue.renew(db, fresh, LEASE)
    assert queue.finish(db, fresh, {"metrics": {}}, 2.0)
    assert not queue.finish(db, fresh, {"metrics": {}}, 3.0)  # exactly once
    assert _statuses(db, sid) == ["running", "running", "finished"]
    with db.read() as conn:
        row = conn.execute(select(submissions).where(submissions.c.id == sid)).one()
    assert row.main_score == 2.0 and row.runs == 1 and row.lease_token is None
    db.dispose()


def test_renew_moves_the_expiry_forward(db_url):
    db = _db(db_url)
    sid = _job(db, _team(db, "a"))
    lease = queue.lease_next(db, "w", 1.0, 3)
    with db.read() as conn:
        before = conn.execute(select(submissions.c.lease_expires_at).where(submissions.c.id == sid)).scalar()
    time.sleep(0.05)
    assert queue.renew(db, lease, 60.0)
    with db.read() as conn:
        after = conn.execute(select(submissions.c.lease_expires_at).where(submissions.c.id == sid)).scalar()
    assert after - before > 55
    db.dispose()


def test_job_that_keeps_killing_workers_is_failed(db_url):
    db = _db(db_url)
    sid = _job(db, _team(db, "a"))
    for _ in range(3):
        assert queue.lease_next(db, "w", LEASE, 3).submission_id == sid
        _expire(db, sid)
    assert queue.lease_next(db, "w", LEASE, 3) is None
    with db.read() as conn:
        row = conn.execute(select(submissions).where(submissions.c.id == sid)).one()
    assert row.status == "failed" and "interrupted 3 times" in row.error
    assert Counter(_statuses(db, sid)) == {"running": 3, "failed": 1}
    db.dispose()


def test_release_and_requeue(db_url):
    db = _db(db_url)
    sid = _job(db, _team(db, "a"))
    lease = queue.lease_next(db, "w", LEASE, 3)
    assert queue.release(db, lease, "stopping")
    again = queue.lease_next(db, "w", LEASE, 3)
    assert again.attempt == 1  # a hand-back is not an attempt
    assert queue.finish(db, again, {"metrics": {}}, 1.0)
    with db.write() as conn:
        assert not queue.requeue(conn, db, sid + 99, "host")
        assert queue.requeue(conn, db, sid, "host")
        assert not queue.requeue(conn, db, sid, "host")  # already queued
    rerun = queue.lease_next(db, "w", LEASE, 3)
    assert rerun.attempt == 1 and queue.finish(db, rerun, {"metrics": {}}, 1.5)
    assert _statuses(db, sid) == ["running", "queued", "running", "finished", "queued", "running", "finished"]
    db.dispose()


def test_migrations_are_recorded_and_a_newer_schema_refused(db_url):
    db = _db(db_url)
    assert db.migrate(MIGRATIONS) == LATEST  # idempotent
    with db.write() as conn:
        conn.execute(insert(schema_version).values(version=LATEST + 1, applied_at=0.0))
    with pytest.raises(SchemaTooNew, match="upgrade valor-bench"):
        db.migrate(MIGRATIONS)
    db.dispose()
