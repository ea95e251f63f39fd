"""What every app database holds besides its own tables: its schema version, a settings table, and the clock.

Times are seconds since the epoch (floats) taken from the database's own clock (:func:`db_now`), so a
process on another machine with a skewed clock never steals a live lease. A migration is a numbered step
applied once, in one transaction, and recorded in ``schema_version``; a database newer than the code is
refused instead of being written by code that does not know its columns.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Column,
    Connection,
    Double,
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

# Key-value facts one process writes and others read (the session signing key, what workers need).
settings = Table(
    "settings", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of the app."""


def db_now(dialect: str) -> ColumnElement:
    """The database clock as epoch seconds: one clock for every process of the app."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Double)  # extract() is numeric since PG 14
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Double)


def current_version(conn: Connection) -> int:
    """The schema version of a database (0 when it has no tables of the kit)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(select(func.max(schema_version.c.version))).scalar() or 0


class Migrations:
    """An app's numbered schema steps; ``app`` names the program to upgrade in the refusal."""

    def __init__(self, app: str, steps: list[tuple[int, Callable[[Connection], None]]]):
        self.app, self.steps = app, steps
        self.latest = steps[-1][0]

    def apply(self, conn: Connection) -> int:
        """Apply the steps this database lacks (inside the caller's transaction); returns its version."""
        current = current_version(conn)
        metadata.create_all(conn)
        if current > self.latest:
            raise SchemaTooNew(f"the database has schema version {current}, this {self.app} knows up to "
                               f"{self.latest}: upgrade {self.app}")
        for version, step in self.steps:
            if version > current:
                step(conn)
                conn.execute(schema_version.insert().values(version=version, applied_at=conn.execute(
                    select(db_now(conn.dialect.name))).scalar()))
                current = version
        return current
