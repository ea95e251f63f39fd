"""The server's tables (SQLAlchemy Core) and the versioned migrations that create and change them.

Times are seconds since the epoch (floats) taken from the database's own clock (:func:`db_now`), so a
worker on another machine with a skewed clock never steals a live lease. A migration is a numbered list
of steps applied once, in one transaction, and recorded in ``schema_version``; a database newer than this
code is refused instead of being written by code that does not know its columns.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    cast,
    func,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Double, nullable=False),
)

# Key-value facts the server writes at start and the workers read: data directory, phase ground-truth
# digests and sizes, the session signing key.
settings = Table(
    "settings", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

teams = Table(
    "teams", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False),
    Column("name_key", String(80), nullable=False, unique=True),  # casefolded: "Team A" == "team a"
    Column("contact", String(200)),
    Column("url", String(500)),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # pending | approved | disabled
    Column("created_at", Double, nullable=False),
    Column("approved_at", Double),
)

submissions = Table(
    "submissions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", Integer, ForeignKey("teams.id"), nullable=False),
    Column("phase", String(32), nullable=False),
    Column("task", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | finished | failed
    Column("blob_sha256", String(64), nullable=False),
    Column("blob_ext", String(8), nullable=False),
    Column("filename", String(255), nullable=False),  # what the client called it: shown, never used as a path
    Column("size_bytes", Integer, nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("modality", String(4)),
    Column("external_data", String(500)),
    Column("url", String(500)),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("attempts", Integer, nullable=False, default=0),  # leases taken for the current run
    Column("runs", Integer, nullable=False, default=0),  # finished/failed outcomes recorded (re-runs add one)
    Column("lease_token", String(64)),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", Double),
    Column("problems_json", Text),  # the validate problem lines, as shown to the team
    Column("error", Text),  # one line shown to the team when it failed for another reason
    Column("error_detail", Text),  # the host's view of the same failure (traceback, paths)
    Column("result_json", Text),  # Evaluation.as_json() (per-sample tables excluded)
    Column("main_score", Double),
    Column("coverage_digest", String(128)),
    Column("coverage_partial", Boolean),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("gt_sha256", String(64)),
)
# One evaluation at a time per team: a second "running" row of a team cannot exist, whatever two
# workers race to lease.
Index("one_running_per_team", submissions.c.team_id, unique=True,
      sqlite_where=submissions.c.status == "running", postgresql_where=submissions.c.status == "running")
Index("queue_order", submissions.c.status, submissions.c.id)
Index("team_phase_task", submissions.c.team_id, submissions.c.phase, submissions.c.task)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False, index=True),
    Column("at", Double, nullable=False),
    Column("status", String(16), nullable=False),  # the status entered, or an action (hidden, rerun...)
    Column("detail", Text),
    Column("actor", String(200)),  # worker id, "host", "team"
)

choices = Table(
    "choices", metadata,
    Column("team_id", Integer, ForeignKey("teams.id"), primary_key=True),
    Column("phase", String(32), primary_key=True),
    Column("task", String(8), primary_key=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False),
)

phase_state = Table(
    "phase_state", metadata,
    Column("phase", String(32), primary_key=True),
    Column("published", Boolean, nullable=False),
    Column("changed_at", Double, nullable=False),
)


def db_now(dialect: str) -> ColumnElement:
    """The database clock as epoch seconds: one clock for the web process and every worker."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Double)  # extract() is numeric since PG 14
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Double)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [(1, _v1)]
LATEST = MIGRATIONS[-1][0]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer valor-bench."""


def migrate(conn: Connection) -> int:
    """Apply the migrations this database lacks (inside the caller's transaction); returns its version."""
    current = current_version(conn)
    schema_version.create(conn, checkfirst=True)
    if current > LATEST:
        raise SchemaTooNew(f"the database has schema version {current}, this valor-bench knows up to {LATEST}: "
                           "upgrade valor-bench")
    for version, step in MIGRATIONS:
        if version > current:
            step(conn)
            conn.execute(schema_version.insert().values(version=version, applied_at=conn.execute(
                select(db_now(conn.dialect.name))).scalar()))
            current = version
    return current


def current_version(conn: Connection) -> int:
    """The schema version of a database (0 when it has no valor-bench tables)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(select(func.max(schema_version.c.version))).scalar() or 0
