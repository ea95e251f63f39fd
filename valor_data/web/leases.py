"""Claiming rows of a work queue exactly once, whatever number of processes claim at the same time.

A queue is a table whose rows a claimer *leases*: it picks the first row a query offers, marks it as its
own (a random token and an expiry on the database clock) and commits. Claiming is race-free on both
databases: PostgreSQL locks the candidate row with ``FOR UPDATE SKIP LOCKED`` (other claimers skip it
instead of waiting), SQLite serialises write transactions with ``BEGIN IMMEDIATE`` (``database.py``). A
claim a unique index refuses (another claimer won a race the index decides) or a lock timeout is retried
with the next candidate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Select, Table
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, OperationalError

from valor_data.web.database import Database

T = TypeVar("T")
TRIES = 20


def new_lease_token() -> str:
    return uuid.uuid4().hex


def claim(db: Database, candidate: Select, take: Callable[[Connection, Row], T | None],
          lock: Table | None = None) -> T | None:
    """Run ``take(conn, row)`` on the first row of ``candidate`` in a write transaction and return what it
    returns; None when ``candidate`` offers no row.

    ``take`` writes the claim; returning None means it dealt with the row otherwise (e.g. gave it up) and the
    next candidate is tried after that transaction commits. ``lock`` is the table whose row PostgreSQL locks
    (needed when ``candidate`` joins or nests other tables).
    """
    if db.postgres:
        candidate = candidate.with_for_update(skip_locked=True, of=lock)
    for _ in range(TRIES):
        try:
            with db.write() as conn:
                row = conn.execute(candidate).first()
                if row is None:
                    return None
                taken = take(conn, row)
            if taken is not None:
                return taken
        except IntegrityError:
            continue
        except OperationalError as e:
            if "locked" not in str(e) and "could not serialize" not in str(e):
                raise
    return None
