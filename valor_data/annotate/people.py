"""Who takes part: one-time invite links per role, joining (the invite is spent and a credential made in
one transaction), identifying a request's credential, and the host's qualification switch.

Invites and credentials are the web kit's tokens: shown once, stored as their sha256. Others see a person
only by pseudonym (``ann-7f3c``): reviewers in the second stage stay anonymous to authors.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from valor_data.annotate.schema import invites, users
from valor_data.annotate.state import Campaign, record
from valor_data.annotate.states import Role
from valor_data.web.errors import HttpError, InputError
from valor_data.web.tokens import hash_secret, new_token

U = users.c
INVITE_PREFIX, TOKEN_PREFIX = "vai_", "vat_"
PSEUDONYM_PREFIX = {Role.ANNOTATOR: "ann", Role.REVIEWER: "rev", Role.HOST: "host"}
MAX_INVITES = 10_000


class NotAllowed(HttpError):
    """The person's role (or qualification) does not allow what was asked."""

    def __init__(self, message: str):
        super().__init__(403, message)


@dataclass(frozen=True)
class User:
    id: int
    pseudonym: str
    role: Role
    qualified: bool

    @classmethod
    def of(cls, row: Row) -> User:
        return cls(row.id, row.pseudonym, Role(row.role), bool(row.qualified))


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InputError(f"role: {value!r} is not one of {', '.join(r.value for r in Role)}") from None


def create_invites(c: Campaign, role: Role | str, n: int = 1) -> list[str]:
    """``n`` one-time invite tokens for ``role`` (the only time they exist in clear)."""
    role = parse_role(role)
    if not 1 <= n <= MAX_INVITES:
        raise InputError(f"invites: between 1 and {MAX_INVITES} at a time, not {n}")
    tokens = [new_token(INVITE_PREFIX) for _ in range(n)]
    with c.db.write() as conn:
        now = conn.execute(select(c.db.now())).scalar()
        conn.execute(insert(invites), [{"token_hash": h, "role": role.value, "created_at": now} for _, h in tokens])
        record(conn, c, None, "invite", role.value, count=n)
    return [t for t, _ in tokens]


def join(c: Campaign, invite: str) -> tuple[User, str]:
    """Spend ``invite`` and make its person; returns them and their credential token (shown once)."""
    invite_hash = hash_secret((invite or "").strip())
    with c.db.write() as conn:
        row = conn.execute(select(invites).where(invites.c.token_hash == invite_hash)).first()
        if row is None or row.used_at is not None:
            raise InputError("invite: unknown or already used (ask the host for a new link)")
        role = Role(row.role)
        qualified = role != Role.ANNOTATOR or c.config.qualification_min_accepted == 0
        token, token_hash = new_token(TOKEN_PREFIX)
        user_id = _insert_user(conn, c, role, qualified, token_hash)
        spent = conn.execute(update(invites).where(invites.c.token_hash == invite_hash, invites.c.used_at.is_(None))
                             .values(used_at=c.db.now(), user_id=user_id))
        if spent.rowcount != 1:
            raise InputError("invite: unknown or already used (ask the host for a new link)")
        record(conn, c, user_id, "join", role.value)
        return User.of(conn.execute(select(users).where(U.id == user_id)).one()), token


def _insert_user(conn: Connection, c: Campaign, role: Role, qualified: bool, token_hash: str) -> int:
    """A fresh person with a pseudonym nobody has (drawn again on the rare collision)."""
    for _ in range(20):
        pseudonym = f"{PSEUDONYM_PREFIX[role]}-{secrets.token_hex(2)}"
        try:
            with conn.begin_nested():
                return conn.execute(insert(users).values(
                    pseudonym=pseudonym, role=role.value, qualified=qualified, token_hash=token_hash,
                    created_at=select(c.db.now()).scalar_subquery())).inserted_primary_key[0]
        except IntegrityError:
            continue
    raise RuntimeError("no free pseudonym after 20 draws")


def identify(c: Campaign, token: str | None = None, token_hash: str | None = None) -> User | None:
    """Who holds ``token`` (an API bearer) or ``token_hash`` (what a session cookie keeps); None: nobody."""
    if token:
        token_hash = hash_secret(token.strip())
    if not token_hash:
        return None
    with c.db.read() as conn:
        row = conn.execute(select(users).where(U.token_hash == token_hash)).first()
    return User.of(row) if row is not None else None


def get_user(conn: Connection, user_id: int) -> User:
    row = conn.execute(select(users).where(U.id == user_id)).first()
    if row is None:
        raise HttpError(404, f"user {user_id}: no such person in this campaign")
    return User.of(row)


def require_host(user: User) -> None:
    if user.role != Role.HOST:
        raise NotAllowed("only a host may do this")


def set_qualified(c: Campaign, host: User, user_id: int, qualified: bool) -> User:
    """The host's switch: an annotator gets campaign clips (or only gold clips again)."""
    require_host(host)
    with c.db.write() as conn:
        person = get_user(conn, user_id)
        conn.execute(update(users).where(U.id == user_id).values(qualified=bool(qualified)))
        record(conn, c, host.id, "qualify" if qualified else "unqualify", person.pseudonym)
        return get_user(conn, user_id)


def list_people(c: Campaign) -> list[User]:
    """Everyone who joined, in the order they joined (the host's page)."""
    with c.db.read() as conn:
        return [User.of(r) for r in conn.execute(select(users).order_by(U.id))]
