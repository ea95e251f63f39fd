"""The web pages: server-rendered HTML (Jinja2, autoescaped) and plain forms that work without JavaScript;
``static/annotate.js`` adds live hints and keyboard shortcuts where it runs.

A person joins through a one-time invite link (a page with a button: a link preview that fetches the URL
spends nothing), which starts their session. The writing and review pages show the clip with its sound,
its labels and the hints of the text; a refused caption comes back with its text kept. The time a writer
or reviewer spent is measured from when the page was served (a hidden field) to the save.
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from valor_data.annotate.assign import next_review, next_write, release
from valor_data.annotate.people import User, create_invites, identify, join, set_qualified
from valor_data.annotate.problems import common_problems, feedback_for
from valor_data.annotate.states import ClipState, Role
from valor_data.annotate.status import progress
from valor_data.annotate.web.media import ranged_response
from valor_data.annotate.web.routing import ANYONE, HOSTS, WRITERS, WebState, endpoint, render
from valor_data.annotate.web.views import (
    audit_rows,
    caption_author,
    clip_mp4,
    export_zip,
    gold_accepted,
    hints_for,
    host_queue,
    invite_counts,
    invite_role,
    leased_clip,
    people,
    prefetch_clip,
    roles_for_invites,
    segments,
)
from valor_data.annotate.work import host_decide, save_caption, save_verdict
from valor_data.web.errors import HttpError, InputError
from valor_data.web.sessions import start_session
from valor_data.web.tokens import hash_secret

MAX_PAGE_SECONDS = 24 * 3600.0


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def _take_flash(request: Request) -> str | None:
    return request.session.pop("flash", None)


def spent_seconds(shown_at: str | None) -> float | None:
    """Seconds since the page was served (its hidden ``shown_at``), None when the field is missing or odd."""
    try:
        spent = time.time() - float(shown_at or "")
    except ValueError:
        return None
    return spent if 0 <= spent <= MAX_PAGE_SECONDS else None


def start_page(user: User) -> str:
    if user.role == Role.HOST:
        return "/host"
    if user.role == Role.ANNOTATOR:
        return "/write" if user.qualified else "/training"
    return "/review"


@endpoint()
def home(request: Request, state: WebState, user: User | None, _data) -> Response:
    stages = progress(state.campaign)["stages"] if user else {}
    return render(request, "index.html", progress=stages, states=[s.value for s in ClipState])


@endpoint()
def login_form(request: Request, state: WebState, user: User | None, _data) -> Response:
    return render(request, "login.html", error=None)


@endpoint(body="form")
def login(request: Request, state: WebState, user: User | None, data: dict) -> Response:
    who = identify(state.campaign, data.get("token", ""))
    if who is None:
        return render(request, "login.html", status=401, error="unknown token")
    start_session(request, token_hash=hash_secret(data["token"].strip()))
    return _redirect(start_page(who))


@endpoint(body="form")
def logout(request: Request, state: WebState, user: User | None, data: dict) -> Response:
    request.session.clear()
    return _redirect("/")


@endpoint()
def join_form(request: Request, state: WebState, user: User | None, _data) -> Response:
    invite = request.path_params["invite"]
    return render(request, "join.html", invite=invite, role=invite_role(state, invite))


@endpoint(body="form")
def join_page(request: Request, state: WebState, user: User | None, data: dict) -> Response:
    try:
        new, token = join(state.campaign, request.path_params["invite"])
    except InputError as e:
        raise HttpError(404, str(e)) from None
    start_session(request, token_hash=hash_secret(token))
    request.state.user = new
    return render(request, "joined.html", token=token, next=start_page(new))


# ----------------------------------------------------------------------------------------------- writing
def _write_page(request: Request, state: WebState, user: User, text: str | None = None, error: str | None = None,
                status: int = 200, shown_at: str | None = None) -> Response:
    """The writing page of the clip ``user`` holds (or is given); a refused save comes back with its text,
    its error and the time the clip was first shown."""
    task = next_write(state.campaign, user)
    if task is None:
        return render(request, "write.html", status=status, task=None, saved=_take_flash(request))
    prefetch_clip(state, user, task.lease)
    text = (task.draft or "") if text is None else text
    found = hints_for(state, text, task.labels, user.id, task.clip_pk)
    return render(request, "write.html", status=status, task=task, lease=task.lease, clip_id=task.clip_id,
                  stage=task.stage, round=task.round, labels=task.labels, feedback=task.feedback, text=text,
                  hints=found, segments=segments(text, found), error=error,
                  shown_at=shown_at if spent_seconds(shown_at) is not None else f"{time.time():.3f}",
                  saved=_take_flash(request))


@endpoint(WRITERS)
def write_form(request: Request, state: WebState, user: User, _data) -> Response:
    return _write_page(request, state, user)


@endpoint(WRITERS, body="form")
def write(request: Request, state: WebState, user: User, data: dict) -> Response:
    text = data.get("text", "")
    try:
        saved = save_caption(state.campaign, user, data.get("lease", ""), text, spent_seconds(data.get("shown_at")),
                             draft_shown=data.get("draft_shown") == "1")
    except InputError as e:
        return _write_page(request, state, user, text=text, error=str(e), status=422,
                           shown_at=data.get("shown_at"))
    _flash(request, saved.clip_id)
    return _redirect("/write")


@endpoint(WRITERS, body="form")
def write_release(request: Request, state: WebState, user: User, data: dict) -> Response:
    release(state.campaign, user, data.get("lease", ""))
    return _redirect("/")


@endpoint(WRITERS, body="form", limit="live")
def write_hints(request: Request, state: WebState, user: User, data: dict) -> Response:
    held = leased_clip(state, user, data.get("lease", ""))
    clip_pk, labels = held if held else (None, [])
    return JSONResponse(hints_for(state, data.get("text", ""), labels, user.id, clip_pk).as_json())


# ----------------------------------------------------------------------------------------------- reviewing
def _review_page(request: Request, state: WebState, user: User, error: str | None = None,
                 status: int = 200) -> Response:
    task = next_review(state.campaign, user)
    outcome = _take_flash(request)
    if task is None:
        return render(request, "review.html", status=status, task=None, outcome=outcome)
    prefetch_clip(state, user, task.lease)
    found = hints_for(state, task.text, task.labels, caption_author(state, task.caption_id), task.clip_pk)
    return render(request, "review.html", status=status, task=task, lease=task.lease, clip_id=task.clip_id,
                  stage=task.stage, round=task.round, labels=task.labels, text=task.text, hints=found,
                  segments=segments(task.text, found), error=error, shown_at=f"{time.time():.3f}",
                  outcome=outcome)


@endpoint(ANYONE)
def review_form(request: Request, state: WebState, user: User, _data) -> Response:
    return _review_page(request, state, user)


@endpoint(ANYONE, body="form")
def review(request: Request, state: WebState, user: User, data: dict) -> Response:
    try:
        saved = save_verdict(state.campaign, user, data.get("lease", ""), data.get("verdict", ""),
                             data.get("reason"), data.get("comment"), spent_seconds(data.get("shown_at")))
    except InputError as e:
        return _review_page(request, state, user, error=str(e), status=422)
    _flash(request, saved.outcome)
    return _redirect("/review")


@endpoint(ANYONE, body="form")
def review_release(request: Request, state: WebState, user: User, data: dict) -> Response:
    release(state.campaign, user, data.get("lease", ""))
    return _redirect("/")


@endpoint(ANYONE, limit="live")
def media(request: Request, state: WebState, user: User, _data) -> Response:
    return ranged_response(clip_mp4(state, user, request.path_params["lease"]), request.headers.get("range"))


# ----------------------------------------------------------------------------------------------- reading
@endpoint(ANYONE)
def training(request: Request, state: WebState, user: User, _data) -> Response:
    return render(request, "training.html", accepted=gold_accepted(state, user))


@endpoint()
def guidelines(request: Request, state: WebState, user: User | None, _data) -> Response:
    return render(request, "guidelines.html", guidelines=state.campaign.config.guidelines())


@endpoint(WRITERS)
def feedback(request: Request, state: WebState, user: User, _data) -> Response:
    return render(request, "feedback.html", items=feedback_for(state.campaign, user))


@endpoint(ANYONE)
def problems(request: Request, state: WebState, user: User, _data) -> Response:
    c = state.campaign
    if user.role == Role.HOST:
        per_person = [(p["pseudonym"], common_problems(c, p["id"])) for p in people(state)
                      if p["role"] == Role.ANNOTATOR.value]
    elif user.role == Role.ANNOTATOR:
        per_person = [(f"yours ({user.pseudonym})", common_problems(c, user.id))]
    else:
        per_person = []
    return render(request, "problems.html", overall=common_problems(c), per_person=per_person)


# ----------------------------------------------------------------------------------------------- host
@endpoint(HOSTS)
def host_page(request: Request, state: WebState, user: User, _data) -> Response:
    return render(request, "host.html", decisions=host_queue(state), people=people(state),
                  invites=invite_counts(state), roles=roles_for_invites(), message=_take_flash(request))


def _whole(data: dict, name: str) -> int:
    try:
        return int(data.get(name, ""))
    except ValueError:
        raise InputError(f"{name}: expected a whole number, got {data.get(name)!r}") from None


@endpoint(HOSTS, body="form")
def host_decide_form(request: Request, state: WebState, user: User, data: dict) -> Response:
    clip_state = host_decide(state.campaign, user, _whole(data, "caption_id"), data.get("verdict", ""),
                             data.get("reason"), data.get("comment"))
    _flash(request, f"decided: the clip is {getattr(clip_state, 'value', clip_state)}")
    return _redirect("/host")


@endpoint(HOSTS, body="form")
def host_qualify(request: Request, state: WebState, user: User, data: dict) -> Response:
    person = set_qualified(state.campaign, user, _whole(data, "user_id"), data.get("qualified") == "1")
    _flash(request, f"{person.pseudonym} is {'qualified' if person.qualified else 'not qualified'}")
    return _redirect("/host")


@endpoint(HOSTS, body="form")
def host_invites(request: Request, state: WebState, user: User, data: dict) -> Response:
    role = data.get("role", "")
    tokens = create_invites(state.campaign, role, _whole(data, "n"))
    base = str(request.base_url).rstrip("/")
    return render(request, "invites.html", role=role, links=[f"{base}/join/{t}" for t in tokens])


@endpoint(HOSTS)
def host_export(request: Request, state: WebState, user: User, _data) -> Response:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", state.campaign.config.name)  # a header takes no quotes, no non-ASCII
    return Response(export_zip(state, user), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}-export.zip"'})


@endpoint(HOSTS)
def audit_page(request: Request, state: WebState, user: User, _data) -> Response:
    return render(request, "audit.html", rows=audit_rows(state))


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/join/{invite}", join_form, methods=["GET"]),
        Route("/join/{invite}", join_page, methods=["POST"]),
        Route("/write", write_form, methods=["GET"]),
        Route("/write", write, methods=["POST"]),
        Route("/write/release", write_release, methods=["POST"]),
        Route("/write/hints", write_hints, methods=["POST"]),
        Route("/review", review_form, methods=["GET"]),
        Route("/review", review, methods=["POST"]),
        Route("/review/release", review_release, methods=["POST"]),
        Route("/media/{lease}", media),
        Route("/training", training),
        Route("/guidelines", guidelines),
        Route("/feedback", feedback),
        Route("/problems", problems),
        Route("/host", host_page),
        Route("/host/decide", host_decide_form, methods=["POST"]),
        Route("/host/qualify", host_qualify, methods=["POST"]),
        Route("/host/invites", host_invites, methods=["POST"]),
        Route("/host/export.zip", host_export),
        Route("/audit", audit_page),
    ]
