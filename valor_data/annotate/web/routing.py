"""How every route of the campaign app starts, on the web kit: who is asking, the rate limit, the roles the
route allows, a bounded body, and one-line refusals (the challenge server's ``routing.py`` is the model).

Every route goes through :func:`endpoint`: the API (``/api/v1``) reads only ``Authorization: Bearer`` (no
cookies, so no CSRF), pages read only the session cookie (the clip media, a GET, takes either); each request counts against its person's rate
limit (or its client address's without a valid credential, so guessing tokens is limited too); the route's
roles are checked before its body is read; every page form's CSRF token is checked.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from valor_data import __version__
from valor_data.annotate.people import User, identify
from valor_data.annotate.state import Campaign
from valor_data.annotate.states import Role
from valor_data.annotate.web.media import MediaCache
from valor_data.captions.acd import ConceptMatcher, matcher_for
from valor_data.web import render as kit_render
from valor_data.web.errors import HttpError
from valor_data.web.ratelimit import RateLimiter
from valor_data.web.requests import (
    bearer_token,
    client_address,
    read_bounded,
    read_json,
    refusals_answered_by,
)
from valor_data.web.sessions import CSRF_FIELD, check_csrf

HERE = Path(__file__).resolve().parent
API_PREFIX = "/api/"
MEDIA_PREFIX = "/media/"
MAX_FORM_BYTES = 128 * 1024  # a caption may be refused for its size (100 KB) with a clear line, not a 413
MAX_JSON_BYTES = 128 * 1024
MAX_JSON_DEPTH = 8
LIVE_FACTOR = 10
ANYONE = tuple(Role)
WRITERS = (Role.ANNOTATOR,)
HOSTS = (Role.HOST,)


def clock(seconds: float | None) -> str:
    """A database-clock time (epoch seconds) as people read it."""
    return "–" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


templates = kit_render.templates_in(HERE / "templates", filters={"clock": clock}, version=__version__)


@dataclass
class WebState:
    """What the app holds for its lifetime: the campaign, the rate limits, remuxed clips, the ACD matcher.

    Live hints (one per pause in typing) and a player's range requests have their own, larger limit, so a
    person typing fast never finds their save refused."""

    campaign: Campaign
    limiters: dict[str, RateLimiter] = field(init=False)
    media: MediaCache = field(default_factory=MediaCache)
    matcher: ConceptMatcher = field(default_factory=lambda: matcher_for("paper"))

    def __post_init__(self) -> None:
        per_minute = self.campaign.config.rate_limit_per_minute
        self.limiters = {"actions": RateLimiter(per_minute, 60), "live": RateLimiter(LIVE_FACTOR * per_minute, 60)}


def state_of(request: Request) -> WebState:
    return request.app.state.annotate


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    user: User | None = getattr(request.state, "user", None)
    return kit_render.render(templates, request, name, status, user=user,
                             campaign=state_of(request).campaign.config, **context)


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    try:
        return render(request, "error.html", status=status, status_code=status, message=message)
    except AssertionError:  # no session middleware ran (refused before the session was read)
        return kit_render.plain_error(message, status, headers)


def resolve_user(request: Request) -> User | None:
    """The API reads only the bearer token, pages only the session; the clip media (a GET, nothing to
    forge) takes either, so a script holding a lease can fetch its clip too."""
    campaign = state_of(request).campaign
    media = request.url.path.startswith(MEDIA_PREFIX)
    if is_api(request) or (media and "authorization" in request.headers):
        token = bearer_token(request)
        if token is None:
            return None
        user = identify(campaign, token)
        if user is None:
            raise HttpError(401, "unknown token")
        return user
    token_hash = request.session.get("token_hash")
    if not token_hash:
        return None
    user = identify(campaign, token_hash=token_hash)
    if user is None:
        request.session.pop("token_hash", None)
    return user


async def identify_request(request: Request, limit: str = "actions") -> User | None:
    """Who is asking, counted against the rate limit ``limit``; a bad token counts against the client's
    address on the tighter "actions" limit, whatever the route."""
    limiters = state_of(request).limiters
    try:
        user = await run_in_threadpool(resolve_user, request)
    except HttpError:
        limiters["actions"].enforce(f"addr:{client_address(request)}")
        raise
    request.state.user = user
    limiters[limit].enforce(f"user:{user.id}" if user else f"addr:{client_address(request)}")
    return user


def require(roles: Iterable[Role] | None, user: User | None) -> None:
    """Refuse unless ``user``'s role is one of ``roles`` (None: anyone, logged in or not)."""
    if roles is None:
        return
    if user is None:
        raise HttpError(401, "log in first: open your invite link, or send 'Authorization: Bearer <token>'")
    roles = tuple(roles)
    if user.role not in roles:
        raise HttpError(403, f"this needs the role {' or '.join(r.value for r in roles)}; you are "
                             f"{user.role.value}")


async def read_text_form(request: Request) -> dict[str, str]:
    """A page form (``application/x-www-form-urlencoded``, what every form here sends) of at most
    MAX_FORM_BYTES, decoded as strict UTF-8 so a caption in another encoding is refused rather than
    silently garbled; its CSRF token checked. HttpError 403/413/415/422."""
    body = await read_bounded(request, MAX_FORM_BYTES, "form")
    if body and request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HttpError(415, "send the form as application/x-www-form-urlencoded")
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict",
                           max_num_fields=32)
    except UnicodeDecodeError:
        raise HttpError(422, "the form is not UTF-8 text: send the caption as UTF-8") from None
    except ValueError as e:
        raise HttpError(422, f"unreadable form ({e})") from None
    data = dict(fields)
    check_csrf(request, data.pop(CSRF_FIELD, None))
    return data


refusals = refusals_answered_by(error_response)  # a refusal becomes its one-line answer


def endpoint(roles: Iterable[Role] | None = None, body: str | None = None, limit: str = "actions"):
    """Wrap ``fn(request, state, user, data)`` (sync, run in a thread) as a route; see the module doc.
    ``body``: None, ``"form"`` (a page form, CSRF checked) or ``"json"``; ``limit``: ``"actions"`` or
    ``"live"`` (hints, media)."""
    allowed = None if roles is None else tuple(roles)

    def deco(fn: Callable) -> Callable:
        @refusals
        @functools.wraps(fn)
        async def route(request: Request) -> Response:
            user = await identify_request(request, limit)
            require(allowed, user)
            data = None
            if body == "form":
                data = await read_text_form(request)
            elif body == "json":
                data = await read_json(request, MAX_JSON_BYTES, MAX_JSON_DEPTH)
            return await run_in_threadpool(fn, request, state_of(request), user, data)

        return route

    return deco
