"""Browser sessions: a signed cookie (HttpOnly, SameSite=Lax, Secure behind TLS), its CSRF token, and the
rotation at login.

The cookie holds only a token's hash and the CSRF token, signed with a key the database keeps
(``Database.session_secret``), so every process of one app accepts the same sessions. Every page form
carries the CSRF token and the server compares it with the session's: a form posted from another site
cannot know it. Logging in clears the session and makes a new CSRF token, so a session fixed by an
attacker before the login is worth nothing after it.
"""

from __future__ import annotations

import secrets

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from valor_data.web.errors import HttpError
from valor_data.web.tokens import same_secret

CSRF_FIELD = "csrf_token"
SESSION_DAYS = 14


def session_middleware(secret: str, cookie: str, secure: bool) -> Middleware:
    """Starlette's signed-cookie sessions, always HttpOnly and SameSite=Lax; ``secure``: HTTPS only."""
    return Middleware(SessionMiddleware, secret_key=secret, session_cookie=cookie, same_site="lax",
                      https_only=secure, max_age=SESSION_DAYS * 24 * 3600)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every page form carries it."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    """Raises HttpError 403 unless ``sent`` is this session's CSRF token."""
    if not same_secret(sent, request.session.get("csrf")):
        raise HttpError(403, "this form expired or was not sent from this site (CSRF check); reload the page "
                             "and try again")


def start_session(request: Request, **values: str) -> None:
    """Log in: a fresh session holding ``values`` and a new CSRF token."""
    request.session.clear()
    request.session.update({**values, "csrf": secrets.token_urlsafe(32)})
