"""Teams and who is asking: registration (token shown once, stored hashed), approval, and the identity of a
request (a team, the host, or nobody), resolved from a bearer token (API) or the session (web pages).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from valor_bench.server.config import Challenge
from valor_bench.server.schema import teams
from valor_bench.server.security import TEAM_PREFIX
from valor_bench.server.statuses import Role, TeamStatus
from valor_data.web.database import Database
from valor_data.web.errors import InputError
from valor_data.web.tokens import hash_secret, new_token, same_secret

T = teams.c
MAX_NAME = 80
TEAM_ACTIONS = {"approve": TeamStatus.APPROVED, "disable": TeamStatus.DISABLED}  # the host's, by URL word


@dataclass(frozen=True)
class Identity:
    kind: Role | None  # None: anonymous
    team: Row | None = None
    token_hash: str | None = None

    @property
    def is_host(self) -> bool:
        return self.kind == Role.HOST

    @property
    def team_id(self) -> int | None:
        return self.team.id if self.team is not None else None

    @property
    def rate_key(self) -> str | None:
        return self.token_hash


ANONYMOUS = Identity(None)


def clean_text(value: str | None, field: str, max_len: int, required: bool = False) -> str | None:
    """Strip, refuse control characters and overlong values; empty -> None (or an error when required)."""
    value = (value or "").strip()
    if not value:
        if required:
            raise InputError(f"{field}: required")
        return None
    if len(value) > max_len:
        raise InputError(f"{field}: at most {max_len} characters (got {len(value)})")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise InputError(f"{field}: control characters are not allowed")
    return value


def clean_url(value: str | None, field: str = "url") -> str | None:
    value = clean_text(value, field, 500)
    if value and not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
        raise InputError(f"{field}: must be an http:// or https:// address")
    return value


def name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def register_team(conn: Connection, db: Database, challenge: Challenge, name: str | None, contact: str | None = None,
                  url: str | None = None) -> tuple[Row, str]:
    """Create a team; returns its row and its token (the only time the token exists in clear)."""
    name = clean_text(name, "team name", MAX_NAME, required=True)
    contact = clean_text(contact, "contact", 200)
    url = clean_url(url)
    token, token_hash = new_token(TEAM_PREFIX)
    status = TeamStatus.PENDING if challenge.approval else TeamStatus.APPROVED
    now = select(db.now()).scalar_subquery()
    try:
        with conn.begin_nested():
            team_id = conn.execute(insert(teams).values(
                name=name, name_key=name_key(name), contact=contact, url=url, token_hash=token_hash, status=status,
                created_at=now, approved_at=None if challenge.approval else now)).inserted_primary_key[0]
    except IntegrityError:
        raise InputError(f"team name: a team called {name!r} already exists") from None
    return conn.execute(select(teams).where(T.id == team_id)).one(), token


def rotate_token(conn: Connection, team_id: int) -> str:
    token, token_hash = new_token(TEAM_PREFIX)
    conn.execute(update(teams).where(T.id == team_id).values(token_hash=token_hash))
    return token


def set_team_status(conn: Connection, db: Database, team_id: int, status: TeamStatus) -> bool:
    values: dict = {"status": status}
    if status == TeamStatus.APPROVED:
        values["approved_at"] = select(db.now()).scalar_subquery()
    return conn.execute(update(teams).where(T.id == team_id).values(**values)).rowcount == 1


def identify(conn: Connection, challenge: Challenge, token: str | None = None,
             token_hash: str | None = None) -> Identity:
    """Who holds ``token`` (or the session's ``token_hash``); anonymous when it matches nothing."""
    if token:
        token_hash = hash_secret(token.strip())
    if not token_hash:
        return ANONYMOUS
    if same_secret(token_hash, challenge.host_token_sha256):
        return Identity(Role.HOST, None, token_hash)
    row = conn.execute(select(teams).where(T.token_hash == token_hash)).first()
    if row is None or row.status == TeamStatus.DISABLED:
        return ANONYMOUS
    return Identity(Role.TEAM, row, token_hash)
