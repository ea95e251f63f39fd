"""Secrets that stand for a person: random, shown once, stored only as their sha256, compared in constant time.

A token is ``prefix + 256 random bits``; the database keeps ``hash_secret(token)``, so a leaked database
reveals no usable token. A one-time token (an invite link) is the same thing plus a row that is marked
used in the transaction that accepts it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def hash_secret(token: str) -> str:
    """What is stored instead of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(prefix: str) -> tuple[str, str]:
    """A fresh token and its stored hash."""
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_secret(token)


def same_secret(a: str | None, b: str | None) -> bool:
    """Constant-time equality; an empty or missing value never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
