"""One database handle for every process of an app, from one URL: SQLite by default, PostgreSQL through psycopg 3.

SQLite is opened in WAL mode (readers never wait for the writer) with a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock first, so two processes never both
read a row as free and then both claim it (a deferred transaction would only find out at its first
write, and could not wait for the lock then). PostgreSQL needs none of that: claims lock their row with
``FOR UPDATE SKIP LOCKED`` (``leases.py``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, event, make_url, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from valor_data.web.schema import Migrations, db_now, settings

SQLITE_BUSY_MS = 60_000
# Starlette runs each request's database work in anyio's threadpool (40 threads by default): as many
# connections as threads, so no thread waits for the pool while holding a place in the threadpool.
THREADS = 40
POOL_SIZE = 10  # kept open between bursts; the rest are opened on demand


def normalize_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` use psycopg 3; a bare path means an SQLite file."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def display_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    def __init__(self, url: str):
        self.url = normalize_url(url)
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[1] if ":///" in self.url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url, connect_args={"check_same_thread": False,
                                                                "timeout": SQLITE_BUSY_MS / 1000})
            _sqlite_setup(self.engine)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=POOL_SIZE,
                                        max_overflow=THREADS - POOL_SIZE)
        self.dialect = self.engine.dialect.name

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def now(self) -> ColumnElement:
        return db_now(self.dialect)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that writes: on SQLite it holds the write lock from its first statement."""
        with self.engine.connect() as conn:
            conn.execution_options(valor_immediate=True)
            with conn.begin():
                yield conn

    def migrate(self, migrations: Migrations) -> int:
        with self.write() as conn:
            return migrations.apply(conn)

    def get_setting(self, key: str, conn: Connection | None = None) -> object | None:
        if conn is None:
            with self.read() as c:
                return self.get_setting(key, c)
        value = conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()
        return None if value is None else json.loads(value)

    def set_setting(self, conn: Connection, key: str, value: object) -> None:
        insert = pg_insert if self.postgres else sqlite_insert
        stmt = insert(settings).values(key=key, value=json.dumps(value))
        conn.execute(stmt.on_conflict_do_update(index_elements=[settings.c.key], set_={"value": stmt.excluded.value}))

    def session_secret(self) -> str:
        """The key that signs session cookies, made once and shared by every process of the app."""
        with self.write() as conn:
            secret = self.get_setting("session_secret", conn)
            if not secret:
                secret = secrets.token_urlsafe(48)
                self.set_setting(conn, "session_secret", secret)
            return str(secret)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("valor_immediate") else "BEGIN")
