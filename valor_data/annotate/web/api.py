"""The JSON API, ``/api/v1``: what scripted annotators, the demo and the load benchmark use. Bearer tokens
only (no cookies, so no CSRF); every write answers after its transaction committed.

Errors are ``{"error": "one line"}`` with the HTTP status: 400 unreadable body, 401 no or unknown token,
403 not this person's role, 404 not found (also for a lease that is someone else's), 409 a lease lost,
413 too large, 422 invalid (a refused caption says why), 429 rate limit (with ``Retry-After``).
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from valor_data.annotate.assign import next_review, next_write, release
from valor_data.annotate.people import User, create_invites, join, set_qualified
from valor_data.annotate.problems import common_problems, feedback_for
from valor_data.annotate.status import progress
from valor_data.annotate.web.routing import ANYONE, HOSTS, WRITERS, WebState, endpoint
from valor_data.annotate.web.views import export_zip, hints_for, leased_clip
from valor_data.annotate.work import host_decide, save_caption, save_verdict
from valor_data.web.errors import InputError


def _text(data: dict, name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name}: expected a string, got {type(value).__name__}")
    return value


def _number(data: dict, name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _whole(data: dict, name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name}: expected a whole number, got {value!r}")
    return value


def _flag(data: dict, name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise InputError(f"{name}: expected true or false, got {value!r}")
    return value


def media_url(lease: str) -> str:
    return f"/media/{lease}"


@endpoint(body="json")
def join_api(request: Request, state: WebState, user: User | None, data: dict) -> Response:
    new, token = join(state.campaign, _text(data, "invite"))
    return JSONResponse({"token": token, "pseudonym": new.pseudonym, "role": new.role.value,
                         "qualified": new.qualified, "note": "keep the token: it is shown only once"},
                        status_code=201)


@endpoint(ANYONE)
def me(request: Request, state: WebState, user: User, _data) -> Response:
    return JSONResponse({"pseudonym": user.pseudonym, "role": user.role.value, "qualified": user.qualified})


@endpoint(WRITERS)
def next_write_api(request: Request, state: WebState, user: User, _data) -> Response:
    task = next_write(state.campaign, user)
    if task is None:
        return Response(status_code=204)
    return JSONResponse({"lease": task.lease, "clip_id": task.clip_id, "stage": task.stage, "round": task.round,
                         "labels": task.labels, "draft": task.draft,
                         "feedback": [asdict(f) for f in task.feedback], "media_url": media_url(task.lease),
                         "expires": task.expires})


@endpoint(WRITERS, body="json")
def caption(request: Request, state: WebState, user: User, data: dict) -> Response:
    saved = save_caption(state.campaign, user, _text(data, "lease"), _text(data, "text"), _number(data, "seconds"),
                         _flag(data, "draft_shown"))
    return JSONResponse({"caption_id": saved.caption_id, "clip_id": saved.clip_id, "state": saved.state},
                        status_code=201)


@endpoint(ANYONE)
def next_review_api(request: Request, state: WebState, user: User, _data) -> Response:
    task = next_review(state.campaign, user)
    if task is None:
        return Response(status_code=204)
    return JSONResponse({"lease": task.lease, "caption_id": task.caption_id, "clip_id": task.clip_id,
                         "text": task.text, "labels": task.labels, "media_url": media_url(task.lease),
                         "stage": task.stage, "round": task.round, "expires": task.expires})


@endpoint(ANYONE, body="json")
def verdict(request: Request, state: WebState, user: User, data: dict) -> Response:
    saved = save_verdict(state.campaign, user, _text(data, "lease"), _text(data, "verdict"),
                         _text(data, "reason", False), _text(data, "comment", False), _number(data, "seconds"))
    return JSONResponse({"caption_id": saved.caption_id, "outcome": saved.outcome}, status_code=201)


@endpoint(ANYONE, body="json")
def release_api(request: Request, state: WebState, user: User, data: dict) -> Response:
    return JSONResponse({"released": release(state.campaign, user, _text(data, "lease"))})


@endpoint(ANYONE, body="json", limit="live")
def hints_api(request: Request, state: WebState, user: User, data: dict) -> Response:
    """Hints of ``text``, compared with the asker's latest captions; with ``lease`` (a clip being written) the
    clip's labels count and its own captions are left out of the near-copy comparison."""
    text, lease = _text(data, "text"), _text(data, "lease", False)
    held = leased_clip(state, user, lease) if lease else None
    clip_pk, labels = held if held else (None, [])
    return JSONResponse(hints_for(state, text, labels, user.id, clip_pk).as_json())


@endpoint(ANYONE)
def problems_api(request: Request, state: WebState, user: User, _data) -> Response:
    c = state.campaign
    out = {"overall": [asdict(p) for p in common_problems(c)]}
    if user.role.value != "reviewer":
        out["yours"] = [asdict(p) for p in common_problems(c, user.id)]
    return JSONResponse(out)


@endpoint(WRITERS)
def feedback_api(request: Request, state: WebState, user: User, _data) -> Response:
    return JSONResponse({"feedback": [asdict(f) for f in feedback_for(state.campaign, user)]})


# ----------------------------------------------------------------------------------------------- host
@endpoint(HOSTS)
def status_api(request: Request, state: WebState, user: User, _data) -> Response:
    return JSONResponse(progress(state.campaign))


@endpoint(HOSTS, body="json")
def decision(request: Request, state: WebState, user: User, data: dict) -> Response:
    clip_state = host_decide(state.campaign, user, _whole(data, "caption_id"), _text(data, "verdict"),
                             _text(data, "reason", False), _text(data, "comment", False))
    return JSONResponse({"caption_id": data["caption_id"], "state": getattr(clip_state, "value", clip_state)},
                        status_code=201)


@endpoint(HOSTS, body="json")
def qualify(request: Request, state: WebState, user: User, data: dict) -> Response:
    qualified = _flag(data, "qualified")
    if qualified is None:
        raise InputError("qualified: expected true or false")
    person = set_qualified(state.campaign, user, _whole(data, "user_id"), qualified)
    return JSONResponse({"user_id": person.id, "pseudonym": person.pseudonym, "qualified": person.qualified})


@endpoint(HOSTS, body="json")
def invites(request: Request, state: WebState, user: User, data: dict) -> Response:
    tokens = create_invites(state.campaign, _text(data, "role"), _whole(data, "n") if "n" in data else 1)
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"invites": tokens, "links": [f"{base}/join/{t}" for t in tokens]}, status_code=201)


@endpoint(HOSTS)
def export_api(request: Request, state: WebState, user: User, _data) -> Response:
    return Response(export_zip(state, user), media_type="application/zip")


def routes() -> list[Route]:
    v1 = "/api/v1"
    return [
        Route(f"{v1}/join", join_api, methods=["POST"]),
        Route(f"{v1}/me", me),
        Route(f"{v1}/next/write", next_write_api, methods=["POST"]),
        Route(f"{v1}/captions", caption, methods=["POST"]),
        Route(f"{v1}/next/review", next_review_api, methods=["POST"]),
        Route(f"{v1}/verdicts", verdict, methods=["POST"]),
        Route(f"{v1}/leases/release", release_api, methods=["POST"]),
        Route(f"{v1}/hints", hints_api, methods=["POST"]),
        Route(f"{v1}/problems", problems_api),
        Route(f"{v1}/feedback", feedback_api),
        Route(f"{v1}/status", status_api),
        Route(f"{v1}/host/decisions", decision, methods=["POST"]),
        Route(f"{v1}/host/qualify", qualify, methods=["POST"]),
        Route(f"{v1}/host/invites", invites, methods=["POST"]),
        Route(f"{v1}/host/export", export_api),
    ]
