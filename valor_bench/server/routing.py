"""How every route of the challenge server starts, on the web kit: who is asking, the rate limit, what the
route requires, a bounded body, and one-line refusals.

Every route goes through :func:`endpoint`, which resolves who is asking (bearer token for ``/api/v1``,
session cookie for pages; the API never reads cookies, so it needs no CSRF token), counts the request
against that token's rate limit (or the client address's, when there is no valid token), enforces the
route's requirement (:class:`~valor_bench.server.statuses.Access`), reads a bounded body, checks the CSRF
token of every page form, and turns refusals into one line (JSON ``{"error": ...}`` or an HTML page).

Why Starlette rather than FastAPI: uploads must be streamed to disk with the size limit enforced while
they arrive, which needs the raw request stream (FastAPI's ``UploadFile`` spools the whole body before a
route runs), and the JSON API is small enough not to need generated schemas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from valor_bench import __version__
from valor_bench.server.limits import iso
from valor_bench.server.state import ServerState
from valor_bench.server.statuses import DONE, PENDING_WORK, Access, Role, TeamStatus
from valor_bench.server.teams import ANONYMOUS, Identity, identify
from valor_data.web import render as kit_render
from valor_data.web.errors import HttpError
from valor_data.web.requests import bearer_token, client_address, read_form, read_json, refusals_answered_by
from valor_data.web.uploads import mib

HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 64 * 1024
MAX_JSON_BYTES = 64 * 1024
API_PREFIX = "/api/"

templates = kit_render.templates_in(HERE / "templates", filters={"iso": iso}, mib=mib, version=__version__,
                                    TeamStatus=TeamStatus, DONE=DONE, PENDING_WORK=PENDING_WORK)


def state_of(request: Request) -> ServerState:
    return request.app.state.valor


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    ident: Identity = getattr(request.state, "ident", ANONYMOUS)
    return kit_render.render(templates, request, name, status, ident=ident, challenge=state_of(request).challenge,
                             **context)


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    try:
        return render(request, "error.html", status=status, status_code=status, message=message)
    except AssertionError:  # no session middleware ran (refused before the session was read)
        return kit_render.plain_error(message, status, headers)


def resolve_identity(request: Request) -> Identity:
    state = state_of(request)
    if is_api(request):
        token = bearer_token(request)
        if token is None:
            return ANONYMOUS
        with state.db.read() as conn:
            ident = identify(conn, state.challenge, token=token)
        if ident.kind is None:
            raise HttpError(401, "unknown or revoked token")
        return ident
    token_hash = request.session.get("token_hash")
    if not token_hash:
        return ANONYMOUS
    with state.db.read() as conn:
        ident = identify(conn, state.challenge, token_hash=token_hash)
    if ident.kind is None:
        request.session.pop("token_hash", None)  # rotated or disabled since: log out
    return ident


def rate_limit(request: Request, ident: Identity) -> None:
    state_of(request).limiter.enforce(ident.rate_key or f"addr:{client_address(request)}")


async def identify_request(request: Request) -> Identity:
    """Who is asking, counted against the rate limit; a bad token counts against the client's address, so
    guessing tokens is rate limited too."""
    try:
        ident = await run_in_threadpool(resolve_identity, request)
    except HttpError:
        rate_limit(request, ANONYMOUS)
        raise
    request.state.ident = ident
    rate_limit(request, ident)
    return ident


def require(access: Access | None, ident: Identity) -> None:
    if access is None:
        return
    if ident.kind is None:
        raise HttpError(401, "the host token is required" if access == Access.HOST else
                        "log in with your team token first")
    if access == Access.HOST and not ident.is_host:
        raise HttpError(403, "only the host may do this")
    if access in (Access.TEAM, Access.APPROVED) and ident.kind != Role.TEAM:
        raise HttpError(403, "this needs a team token (the host token is not a team)")
    if access == Access.APPROVED and ident.team.status != TeamStatus.APPROVED:
        raise HttpError(403, f"team {ident.team.name!r} is waiting for the host's approval")


refusals = refusals_answered_by(error_response)  # a refusal becomes its one-line answer


def endpoint(access: Access | None = None, body: str | None = None):
    """Wrap ``fn(request, state, ident, data)`` (sync, run in a thread) as a route; see the module doc.
    ``body``: None, ``"form"`` (a page form, CSRF checked) or ``"json"``."""

    def deco(fn: Callable) -> Callable:
        @refusals
        @functools.wraps(fn)
        async def route(request: Request) -> Response:
            ident = await identify_request(request)
            require(access, ident)
            state = state_of(request)
            data = None
            if body == "form":
                data = await read_form(request, MAX_FORM_BYTES)
            elif body == "json":
                data = await read_json(request, MAX_JSON_BYTES, state.challenge.max_json_depth)
            return await run_in_threadpool(fn, request, state, ident, data)

        return route

    return deco
