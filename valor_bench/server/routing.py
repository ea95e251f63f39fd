"""The Starlette application: routes, sessions, security headers, and the one way every route starts.

Every route goes through :func:`endpoint`, which resolves who is asking (bearer token for ``/api/v1``,
session cookie for pages; the API never reads cookies, so it needs no CSRF token), counts the request
against that token's rate limit (or the client address's, when there is no valid token), enforces the
route's requirement (a team, an approved team, the host), reads a bounded body, checks the CSRF token of
every page form, and turns refusals into one line (JSON ``{"error": ...}`` or an HTML page).

Why Starlette rather than FastAPI: uploads must be streamed to disk with the size limit enforced while
they arrive, which needs the raw request stream (FastAPI's ``UploadFile`` spools the whole body before a
route runs), and the JSON API is small enough not to need generated schemas.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from valor_bench import __version__
from valor_bench.server.limits import iso
from valor_bench.server.security import json_depth_exceeds, same_secret
from valor_bench.server.state import ServerState
from valor_bench.server.teams import ANONYMOUS, Identity, InputError, identify
from valor_bench.server.uploads import mib

HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 64 * 1024
MAX_JSON_BYTES = 64 * 1024
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["iso"] = iso
    env.globals["mib"] = mib
    env.globals["version"] = __version__
    return env


templates = Jinja2Templates(env=_env())


def state_of(request: Request) -> ServerState:
    return request.app.state.valor


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every page form carries it."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    ident: Identity = getattr(request.state, "ident", ANONYMOUS)
    state = state_of(request)
    return templates.TemplateResponse(request, name, {"ident": ident, "challenge": state.challenge,
                                                      "csrf": csrf_token(request), **context}, status_code=status)


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    try:
        return render(request, "error.html", status=status, status_code=status, message=message)
    except Exception:  # a session-less request (e.g. refused before the session was read)
        return HTMLResponse(f"<p>{jinja2.utils.markupsafe.escape(message)}</p>", status_code=status, headers=headers)


def resolve_identity(request: Request) -> Identity:
    state = state_of(request)
    if is_api(request):
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            return ANONYMOUS
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpError(401, "send the token as 'Authorization: Bearer <token>'")
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
    state = state_of(request)
    key = ident.rate_key or f"addr:{request.client.host if request.client else '?'}"
    wait = state.limiter.check(key)
    if wait is not None:
        raise HttpError(429, f"too many requests: at most {state.challenge.rate_limit_requests} per "
                             f"{state.challenge.rate_limit_seconds:g} s; retry in {wait:.0f} s",
                        {"Retry-After": str(max(1, int(wait + 0.999)))})


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


def require(auth: str | None, ident: Identity) -> None:
    if auth is None:
        return
    if ident.kind is None:
        raise HttpError(401, "log in with your team token first" if auth != "host" else "the host token is required")
    if auth == "host" and not ident.is_host:
        raise HttpError(403, "only the host may do this")
    if auth in ("team", "approved") and ident.kind != "team":
        raise HttpError(403, "this needs a team token (the host token is not a team)")
    if auth == "approved" and ident.team.status != "approved":
        raise HttpError(403, f"team {ident.team.name!r} is waiting for the host's approval")


async def read_form(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HttpError(413, f"form over {MAX_FORM_BYTES // 1024} KiB")
    form = await request.form(max_files=0, max_fields=32, max_part_size=MAX_FORM_BYTES)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if not same_secret(data.get("csrf_token"), request.session.get("csrf")):
        raise HttpError(403, "this form expired or was not sent from this site (CSRF check); reload the page "
                             "and try again")
    return data


async def read_json(request: Request, max_depth: int) -> dict:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise HttpError(413, f"JSON body over {MAX_JSON_BYTES // 1024} KiB")
    if not body:
        return {}
    if json_depth_exceeds([bytes(body)], max_depth) is not None:
        raise HttpError(422, f"JSON body nested deeper than {max_depth} levels")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HttpError(400, f"body is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise HttpError(400, "body must be a JSON object")
    return data


def endpoint(auth: str | None = None, body: str | None = None):
    """Wrap ``fn(request, state, ident, data)`` (sync, run in a thread) as a route; see the module doc."""

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        async def route(request: Request) -> Response:
            try:
                ident = await identify_request(request)
                require(auth, ident)
                data = None
                if body == "form":
                    data = await read_form(request)
                elif body == "json":
                    data = await read_json(request, state_of(request).challenge.max_json_depth)
                return await run_in_threadpool(fn, request, state_of(request), ident, data)
            except HttpError as e:
                return error_response(request, e.status, e.message, e.headers)
            except InputError as e:
                return error_response(request, 422, str(e))

        return route

    return deco


class SecurityHeaders:
    """Headers on every response: no scripts at all (CSP), no framing, no sniffing, no referrer leaks."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for k, v in ((b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                             (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")):
                    if k not in names:
                        headers.append((k, v))
                if scope["path"].startswith(("/api/", "/register", "/team", "/host", "/submissions")) \
                        and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(state: ServerState) -> Starlette:
    from valor_bench.server import api, pages

    secret = state.db.session_secret()
    routes = [*pages.routes(), *api.routes(), Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        detail = getattr(exc, "detail", None) or ("not found" if status == 404 else "error")
        if status == 405:
            detail = "method not allowed"
        return error_response(request, status, str(detail))

    async def server_error(request: Request, exc) -> Response:
        return error_response(request, 500, "internal server error")

    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="valor_session", same_site="lax",
                   https_only=state.secure_cookies, max_age=14 * 24 * 3600),
    ], exception_handlers={404: not_found, 405: not_found, 500: server_error})
    app.state.valor = state
    return app
