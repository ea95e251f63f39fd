"""Fixtures shared by the tests of both web apps (the web kit's and the challenge server's): a throwaway
PostgreSQL 15 server in a temporary directory, and a fresh database on it per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server tools as an unprivileged user then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "nobody", "--", *cmd]


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL 15 on a unix socket in a temporary directory; skipped without the binaries."""
    if not (PG_BIN / "initdb").is_file() or (os.geteuid() == 0 and not shutil.which("runuser")):
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}: PostgreSQL tests skipped")
    base = Path(tempfile.mkdtemp(prefix="valor-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "nobody")
    os.chmod(base, 0o700)
    subprocess.run(_as_postgres_user([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                      "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    subprocess.run(_as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                      f"-k {base} -c listen_addresses='' -F -c max_connections=200", "start"]),
                   check=True, capture_output=True)
    try:
        yield base
    finally:
        subprocess.run(_as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database on the throwaway server."""
    import psycopg  # optional extra: server (the rest of the suite runs without it)

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"host={postgres_server} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@/{name}?host={postgres_server}"


