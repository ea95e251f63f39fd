"""The kit's database side on SQLite and a throwaway PostgreSQL: URLs, migrations, settings, and the lease
queue's claims exactly once under concurrency."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select, update

from valor_data.web.database import Database, display_url, normalize_url
from valor_data.web.leases import claim, new_lease_token
from valor_data.web.schema import Migrations, SchemaTooNew, schema_version

tables = MetaData()
jobs = Table("jobs", tables, Column("id", Integer, primary_key=True), Column("status", String(16), nullable=False),
             Column("lease_token", String(64)), Column("owner", String(64)))
MIGRATIONS = Migrations("kit-test", [(1, tables.create_all)])
N_JOBS, N_CLAIMERS = 60, 6


def test_urls():
    assert normalize_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgresql://h/db") == "postgresql+psycopg://h/db"
    assert normalize_url("rel/board.sqlite").startswith("sqlite:////") and normalize_url("sqlite:///x") == "sqlite:///x"
    assert display_url("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"


def test_migrations_recorded_once_and_a_newer_schema_refused(db_url):
    db = Database(db_url)
    assert db.migrate(MIGRATIONS) == 1 and db.migrate(MIGRATIONS) == 1
    with db.read() as conn:
        assert conn.execute(select(schema_version.c.version)).scalars().all() == [1]
    with db.write() as conn:
        conn.execute(insert(schema_version).values(version=2, applied_at=0.0))
    with pytest.raises(SchemaTooNew, match="knows up to 1: upgrade kit-test"):
        db.migrate(MIGRATIONS)
    db.dispose()


def test_settings_and_the_session_secret_are_shared(db_url):
    db = Database(db_url)
    db.migrate(MIGRATIONS)
    with db.write() as conn:
        db.set_setting(conn, "k", {"a": 1})
        db.set_setting(conn, "k", {"a": 2})
    assert db.get_setting("k") == {"a": 2} and db.get_setting("missing") is None
    secret = db.session_secret()
    assert len(secret) > 40 and Database(db_url).session_secret() == secret
    db.dispose()


def test_each_job_is_claimed_exactly_once_under_concurrency(db_url):
    db = Database(db_url)
    db.migrate(MIGRATIONS)
    with db.write() as conn:
        conn.execute(insert(jobs), [{"id": i, "status": "queued"} for i in range(N_JOBS)])
    candidate = select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.id).limit(1)
    claimed: list[tuple[str, int]] = []
    start = threading.Barrier(N_CLAIMERS)

    def claimer(name: str) -> None:
        def take(conn: Connection, row) -> int:
            conn.execute(update(jobs).where(jobs.c.id == row.id).values(status="running", owner=name,
                                                                        lease_token=new_lease_token()))
            return row.id

        start.wait()
        misses = 0
        while misses < 3:  # PostgreSQL: the rows left may all be locked by the others for a moment
            got = claim(db, candidate, take, lock=jobs)
            if got is None:
                misses += 1
                continue
            claimed.append((name, got))

    threads = [threading.Thread(target=claimer, args=(f"c{i}",)) for i in range(N_CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ids = Counter(i for _, i in claimed)
    assert sorted(ids) == list(range(N_JOBS)) and set(ids.values()) == {1}
    with db.read() as conn:
        rows = conn.execute(select(jobs.c.id, jobs.c.owner)).all()
    assert {r.id: r.owner for r in rows} == {i: name for name, i in claimed}
    assert len({name for name, _ in claimed}) > 1  # the claimers really ran side by side
    db.dispose()


def test_a_claim_that_gives_the_row_up_moves_on_to_the_next(db_url):
    db = Database(db_url)
    db.migrate(MIGRATIONS)
    with db.write() as conn:
        conn.execute(insert(jobs), [{"id": 1, "status": "poison"}, {"id": 2, "status": "queued"}])
    candidate = select(jobs.c.id, jobs.c.status).where(jobs.c.status.in_(("poison", "queued"))).order_by(jobs.c.id)

    def take(conn: Connection, row):
        if row.status == "poison":
            conn.execute(update(jobs).where(jobs.c.id == row.id).values(status="failed"))
            return None
        conn.execute(update(jobs).where(jobs.c.id == row.id).values(status="running"))
        return row.id

    assert claim(db, candidate.limit(1), take, lock=jobs) == 2
    with db.read() as conn:
        assert dict(conn.execute(select(jobs.c.id, jobs.c.status)).all()) == {1: "failed", 2: "running"}
    assert claim(db, candidate.limit(1), take, lock=jobs) is None
    db.dispose()
