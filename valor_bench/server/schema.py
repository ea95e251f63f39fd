"""The challenge server's tables (SQLAlchemy Core) and their versioned migrations; the schema version, the
settings table and the database clock are the web kit's (``valor_data.web.schema``).
"""

from __future__ import annotations

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
)

from valor_bench.server.statuses import SubmissionStatus
from valor_data.web.schema import Migrations

metadata = MetaData()

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
      sqlite_where=submissions.c.status == SubmissionStatus.RUNNING,
      postgresql_where=submissions.c.status == SubmissionStatus.RUNNING)
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


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = Migrations("valor-bench", [(1, _v1)])
LATEST = MIGRATIONS.latest
