"""The web pages: server-rendered HTML (Jinja2, autoescaped), plain forms, no JavaScript.

A submission's page refreshes itself (``<meta http-equiv=refresh>``) while it is queued or running.
Every form carries the session's CSRF token; logging in rotates the session.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from valor_bench.server import host, submissions
from valor_bench.server.access import (
    board_access,
    own_submission,
    phase_task,
    published_phases,
    submit,
)
from valor_bench.server.board import breakdown_charts, build_board
from valor_bench.server.routing import endpoint, render
from valor_bench.server.schema import teams
from valor_bench.server.state import ServerState
from valor_bench.server.statuses import Access
from valor_bench.server.teams import (
    TEAM_ACTIONS,
    Identity,
    identify,
    register_team,
    rotate_token,
    set_team_status,
)
from valor_data.web.errors import HttpError, InputError
from valor_data.web.sessions import start_session


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@endpoint()
def home(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        published = published_phases(conn)
    return render(request, "index.html", published=published)


@endpoint()
def register_form(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    return render(request, "register.html", error=None, values={})


@endpoint(body="form")
def register(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    try:
        with state.db.write() as conn:
            team, token = register_team(conn, state.db, state.challenge, data.get("name"), data.get("contact"),
                                        data.get("url"))
    except InputError as e:
        return render(request, "register.html", status=422, error=str(e), values=data)
    start_session(request, token_hash=team.token_hash)
    return render(request, "token.html", team=team, token=token, new=True)


@endpoint()
def login_form(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    return render(request, "login.html", error=None)


@endpoint(body="form")
def login(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    with state.db.read() as conn:
        who = identify(conn, state.challenge, token=data.get("token", ""))
    if who.kind is None:
        return render(request, "login.html", status=401, error="unknown or revoked token")
    start_session(request, token_hash=who.token_hash)
    return _redirect("/host" if who.is_host else "/team")


@endpoint(body="form")
def logout(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    request.session.clear()
    return _redirect("/")


@endpoint(Access.TEAM)
def team_page(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        rows = submissions.team_submissions(conn, ident.team_id)
        usage = {(p.name, t): submissions.team_usage(state, conn, ident.team_id, p, t)
                 for p in state.challenge.phases.values() for t in p.tasks}
        published = published_phases(conn)
    subs = []
    for r in rows:
        visible = published.get(r.phase) or state.challenge.phase(r.phase).show_own_scores
        score = "private" if not visible else ("–" if r.main_score is None else f"{r.main_score:.2f}")
        subs.append({**r._asdict(), "score": score})
    return render(request, "team.html", team=ident.team, submissions=subs, usage=usage, published=published,
                  max_upload=state.challenge.max_upload_bytes)


@endpoint(Access.TEAM, body="form")
def new_token(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    with state.db.write() as conn:
        token = rotate_token(conn, ident.team_id)
        team = conn.execute(select(teams).where(teams.c.id == ident.team_id)).one()
    request.session.update({"token_hash": team.token_hash})
    return render(request, "token.html", team=team, token=token, new=False)


@endpoint(Access.ANY)
def submission_page(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    sid = request.path_params["sid"]
    with state.db.read() as conn:
        row = own_submission(conn, ident, sid)
        v = submissions.view(state, conn, ident, row)
    charts = breakdown_charts(row.task, (v.result or {}).get("breakdown")) if v.scores_visible else []
    return render(request, "submission.html", v=v, phase=state.challenge.phase(row.phase), charts=charts)


@endpoint(Access.TEAM, body="form")
def choose(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    sid = request.path_params["sid"]
    with state.db.write() as conn:
        row = own_submission(conn, ident, sid)
        submissions.choose(conn, ident, row)
    return _redirect(f"/submissions/{sid}")


def _board(request: Request, state: ServerState, ident: Identity):
    phase = phase_task(state, request.path_params["phase"], request.path_params["task"])
    with state.db.read() as conn:
        board_access(conn, ident, phase)
        return build_board(conn, phase, request.path_params["task"]), submissions.is_published(conn, phase.name)


@endpoint()
def leaderboard(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    board, published = _board(request, state, ident)
    return render(request, "leaderboard.html", board=board, published=published)


@endpoint()
def leaderboard_csv(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    board, _published = _board(request, state, ident)
    name = f"leaderboard-{board.phase.name}-{board.task}.csv"
    return Response(board.csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ----------------------------------------------------------------------------------------------- host
@endpoint(Access.HOST)
def host_page(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        return render(request, "host.html", teams=host.list_teams(conn), submissions=host.list_submissions(conn, 500),
                      published=published_phases(conn))


@endpoint(Access.HOST, body="form")
def host_team(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    action = request.path_params["action"]
    status = TEAM_ACTIONS.get(action)
    if status is None:
        raise HttpError(404, f"unknown action {action!r}")
    with state.db.write() as conn:
        if not set_team_status(conn, state.db, request.path_params["tid"], status):
            raise HttpError(404, "no such team")
    return _redirect("/host")


@endpoint(Access.HOST, body="form")
def host_phase(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    phase, action = request.path_params["phase"], request.path_params["action"]
    if phase not in state.challenge.phases or action not in ("publish", "hide"):
        raise HttpError(404, f"no phase {phase!r} or action {action!r}")
    with state.db.write() as conn:
        host.set_published(conn, state, phase, action == "publish")
    return _redirect("/host")


@endpoint(Access.HOST, body="form")
def host_submission(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    sid, action = request.path_params["sid"], request.path_params["action"]
    with state.db.write() as conn:
        if action in ("hide", "show"):
            ok = submissions.set_hidden(conn, state, sid, action == "hide")
        elif action == "rerun":
            ok = host.rerun(conn, state, sid)
            if not ok:
                raise HttpError(409, f"submission #{sid} is not finished or failed; only those can be re-run")
        else:
            raise HttpError(404, f"unknown action {action!r}")
    if not ok:
        raise HttpError(404, f"no submission #{sid}")
    return _redirect(f"/submissions/{sid}")


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/register", register_form, methods=["GET"]),
        Route("/register", register, methods=["POST"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/team", team_page),
        Route("/team/token", new_token, methods=["POST"]),
        Route("/submit/{phase}/{task}", submit, methods=["POST"]),
        Route("/submissions/{sid:int}", submission_page),
        Route("/submissions/{sid:int}/choose", choose, methods=["POST"]),
        Route("/leaderboard/{phase}/{task}.csv", leaderboard_csv),
        Route("/leaderboard/{phase}/{task}", leaderboard),
        Route("/host", host_page),
        Route("/host/teams/{tid:int}/{action}", host_team, methods=["POST"]),
        Route("/host/phases/{phase}/{action}", host_phase, methods=["POST"]),
        Route("/host/submissions/{sid:int}/{action}", host_submission, methods=["POST"]),
        Route("/host/export.json", host_export_json),
        Route("/host/export/submissions.csv", host_export_csv),
    ]


@endpoint(Access.HOST)
def host_export_json(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        data = host.export_json(conn, state)
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="challenge-export.json"'})


@endpoint(Access.HOST)
def host_export_csv(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        text = host.export_csv(conn)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="submissions.csv"'})
