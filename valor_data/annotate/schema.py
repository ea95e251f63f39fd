"""A campaign's tables (SQLAlchemy Core) and their versioned migrations; the schema version, the settings
table and the database clock are the web kit's (``valor_data.web.schema``).

Rules the database itself keeps, whatever number of processes write: a clip has one writer lease at a time
(its row holds it), a caption has exactly ``reviewers`` review slots (``UNIQUE(caption_id, slot)``) and no
person fills two of them (``UNIQUE(caption_id, reviewer_id)``), an invite is used once.
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
    UniqueConstraint,
)

from valor_data.web.schema import Migrations

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pseudonym", String(32), nullable=False, unique=True),  # what others see: "ann-7f3c"
    Column("role", String(16), nullable=False),  # states.Role
    Column("qualified", Boolean, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # the person's credential, hashed
    Column("created_at", Double, nullable=False),
)

invites = Table(
    "invites", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("used_at", Double),
    Column("user_id", Integer, ForeignKey("users.id")),
)

clips = Table(
    "clips", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("clip_id", String(64), nullable=False, unique=True),  # {ytid}_{start:.3f}_{end:.3f}
    Column("key", String(64), nullable=False),  # the shard sample key
    Column("stage", String(16), nullable=False),  # states.STAGES
    Column("gold", Boolean, nullable=False),  # a training clip: every unqualified annotator writes it once
    Column("split", String(32)),
    Column("labels", Text, nullable=False),  # JSON list of AudioSet display names
    Column("media", Text, nullable=False),  # JSON: {"kind": "tar"|"files", ...} (importing.py)
    Column("draft", Text),  # a model's caption the writer may edit
    Column("draft_source", String(200)),
    Column("state", String(16), nullable=False),  # states.ClipState (gold clips stay open)
    Column("round", Integer, nullable=False),  # the caption round being written or reviewed, from 1
    Column("writer_id", Integer, ForeignKey("users.id")),  # who holds (or last held) the writing lease
    Column("author_id", Integer, ForeignKey("users.id")),  # author of the clip's latest caption
    Column("lease_token", String(64)),
    Column("lease_expires", Double),
    Column("updated_at", Double, nullable=False),
)
Index("clips_queue", clips.c.state, clips.c.gold, clips.c.id)
Index("clips_lease", clips.c.lease_token)
Index("clips_writer", clips.c.writer_id, clips.c.state)  # "the clip I hold"

# A gold clip is written by every unqualified annotator: each one's hold on it is a row here.
training_leases = Table(
    "training_leases", metadata,
    Column("clip_pk", Integer, ForeignKey("clips.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("lease_token", String(64), nullable=False, unique=True),
    Column("lease_expires", Double, nullable=False),
)
Index("training_leases_user", training_leases.c.user_id)

captions = Table(
    "captions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("clip_pk", Integer, ForeignKey("clips.id"), nullable=False, index=True),
    Column("stage", String(16), nullable=False),
    Column("round", Integer, nullable=False),
    Column("author_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("seconds", Double),  # what the writer's page measured
    Column("draft_shown", Boolean, nullable=False),
    Column("draft_edit_words", Integer),  # word edit distance from the draft, when one was shown
    Column("status", String(16), nullable=False),  # states.CaptionStatus
)
Index("captions_status", captions.c.status, captions.c.id)

review_slots = Table(
    "review_slots", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("caption_id", Integer, ForeignKey("captions.id"), nullable=False),
    Column("slot", Integer, nullable=False),  # 0 .. reviewers-1
    Column("reviewer_id", Integer, ForeignKey("users.id")),
    Column("lease_token", String(64)),
    Column("lease_expires", Double),
    Column("verdict", String(8)),  # states.Verdict; null until decided
    Column("reason", String(64)),
    Column("comment", Text),
    Column("decided_at", Double),
    Column("seconds", Double),
    UniqueConstraint("caption_id", "slot"),
    UniqueConstraint("caption_id", "reviewer_id"),
)
Index("slots_open", review_slots.c.verdict, review_slots.c.id)
Index("slots_lease", review_slots.c.lease_token)
Index("slots_reviewer", review_slots.c.reviewer_id, review_slots.c.verdict)  # "the review I hold"

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("caption_id", Integer, ForeignKey("captions.id"), nullable=False),
    Column("clip_pk", Integer, ForeignKey("clips.id"), nullable=False),
    Column("host_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("reason", String(64)),
    Column("comment", Text),
    Column("at", Double, nullable=False),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id")),
    Column("action", String(32), nullable=False),
    Column("subject", String(128)),
    Column("detail", Text),  # JSON
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = Migrations("valor-data annotate", [(1, _v1)])
