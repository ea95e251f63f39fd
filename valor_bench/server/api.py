"""The JSON API, ``/api/v1``: what the CLI and scripts use. Bearer tokens only (no cookies, so no CSRF).

Errors are ``{"error": "one line"}`` with the HTTP status: 401 no/unknown token, 403 not allowed, 404
not found (also for another team's submission), 409 conflict, 413 too large, 415 wrong type,
422 invalid, 429 limit or rate (with when the next request or submission is allowed).
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from valor_bench import __version__
from valor_bench.metrics import MAIN_METRIC, metric_info
from valor_bench.server import host, submissions
from valor_bench.server.access import (
    board_access,
    own_submission,
    phase_task,
    published_phases,
    submit,
)
from valor_bench.server.board import build_board
from valor_bench.server.config import EXTENSIONS
from valor_bench.server.limits import iso
from valor_bench.server.routing import endpoint
from valor_bench.server.state import ServerState
from valor_bench.server.statuses import Access, SubmissionStatus, TeamStatus
from valor_bench.server.teams import TEAM_ACTIONS, Identity, register_team, rotate_token, set_team_status
from valor_data.web.errors import HttpError


def _team_json(team) -> dict:
    return {"id": team.id, "name": team.name, "status": team.status, "url": team.url,
            "created_at": iso(team.created_at), "approved_at": iso(team.approved_at)}


@endpoint()
def health(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        conn.execute(select(1))
    return JSONResponse({"ok": True, "version": __version__})


@endpoint()
def challenge(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    c = state.challenge
    with state.db.read() as conn:
        published = published_phases(conn)
    return JSONResponse({
        "title": c.title, "description": c.description, "approval": c.approval,
        "tasks": {t: {"extensions": list(EXTENSIONS[t]), "max_upload_bytes": c.max_upload_bytes[t],
                      "main_metric": (MAIN_METRIC[t][0] + " " if MAIN_METRIC[t][0] else "") + MAIN_METRIC[t][1],
                      "higher_is_better": metric_info(t, MAIN_METRIC[t][1]).higher_is_better}
                  for t in c.max_upload_bytes},
        "phases": [{"name": p.name, "title": p.title, "description": p.description, "tasks": list(p.tasks),
                    "visibility": p.visibility, "published": published.get(p.name, False),
                    "opens": iso(p.opens), "closes": iso(p.closes),
                    "limits": {"per_day": p.limits.per_day, "per_month": p.limits.per_month, "total": p.limits.total},
                    "clips": state.facts[p.name].n_clips, "captions": state.facts[p.name].n_texts,
                    "ground_truth_sha256": state.facts[p.name].gt_sha256}
                   for p in c.phases.values()],
    })


@endpoint(body="json")
def register(request: Request, state: ServerState, ident: Identity, data: dict) -> Response:
    with state.db.write() as conn:
        team, token = register_team(conn, state.db, state.challenge, data.get("name"), data.get("contact"),
                                    data.get("url"))
    note = "keep the token: it is shown only once" + (
        "; the host must approve the team before it can submit" if team.status == TeamStatus.PENDING else "")
    return JSONResponse({"team": _team_json(team), "token": token, "note": note}, status_code=201)


@endpoint(Access.TEAM)
def me(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        usage = {p.name: {t: submissions.team_usage(state, conn, ident.team_id, p, t).as_json(p) for t in p.tasks}
                 for p in state.challenge.phases.values()}
    return JSONResponse({"team": _team_json(ident.team), "usage": usage})


@endpoint(Access.TEAM)
def new_token(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.write() as conn:
        token = rotate_token(conn, ident.team_id)
    return JSONResponse({"token": token, "note": "the old token no longer works; keep this one, shown only once"})


@endpoint(Access.ANY)
def my_submissions(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        if ident.is_host:
            return JSONResponse({"submissions": host.list_submissions(conn)})
        rows = submissions.team_submissions(conn, ident.team_id)
    return JSONResponse({"submissions": [
        {"id": r.id, "phase": r.phase, "task": r.task, "status": r.status, "model_name": r.model_name,
         "filename": r.filename, "created_at": iso(r.created_at), "finished_at": iso(r.finished_at),
         "hidden": bool(r.hidden)} for r in rows]})


@endpoint(Access.ANY)
def submission(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    sid = request.path_params["sid"]
    with state.db.read() as conn:
        row = own_submission(conn, ident, sid)
        v = submissions.view(state, conn, ident, row)
    return JSONResponse(v.as_json(state.challenge.phase(row.phase)))


@endpoint(Access.TEAM)
def choose(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    sid = request.path_params["sid"]
    with state.db.write() as conn:
        row = own_submission(conn, ident, sid)
        submissions.choose(conn, ident, row)
    return JSONResponse({"id": sid, "chosen": True, "phase": row.phase, "task": row.task})


@endpoint()
def leaderboard(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    phase = phase_task(state, request.path_params["phase"], request.path_params["task"])
    with state.db.read() as conn:
        board_access(conn, ident, phase)
        board = build_board(conn, phase, request.path_params["task"])
    if request.query_params.get("format") == "csv":
        return Response(board.csv(), media_type="text/csv; charset=utf-8")
    return JSONResponse(board.as_json())


# ----------------------------------------------------------------------------------------------- host
@endpoint(Access.HOST)
def host_teams(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        return JSONResponse({"teams": host.list_teams(conn)})


@endpoint(Access.HOST)
def host_team(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    status = TEAM_ACTIONS.get(request.path_params["action"])
    if status is None:
        raise HttpError(404, f"unknown action {request.path_params['action']!r} (approve, disable)")
    with state.db.write() as conn:
        if not set_team_status(conn, state.db, request.path_params["tid"], status):
            raise HttpError(404, f"no team #{request.path_params['tid']}")
    return JSONResponse({"id": request.path_params["tid"], "status": status})


@endpoint(Access.HOST)
def host_phase(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    phase, action = request.path_params["phase"], request.path_params["action"]
    if phase not in state.challenge.phases:
        raise HttpError(404, f"no phase {phase!r}")
    if action not in ("publish", "hide"):
        raise HttpError(404, f"unknown action {action!r} (publish, hide)")
    with state.db.write() as conn:
        host.set_published(conn, state, phase, action == "publish")
    return JSONResponse({"phase": phase, "published": action == "publish"})


@endpoint(Access.HOST)
def host_submission(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    sid, action = request.path_params["sid"], request.path_params["action"]
    with state.db.write() as conn:
        if action in ("hide", "show"):
            if not submissions.set_hidden(conn, state, sid, action == "hide"):
                raise HttpError(404, f"no submission #{sid}")
            return JSONResponse({"id": sid, "hidden": action == "hide"})
        if action == "rerun":
            if not host.rerun(conn, state, sid):
                raise HttpError(409, f"submission #{sid} does not exist or is not finished/failed; only those can "
                                     "be re-run")
            return JSONResponse({"id": sid, "status": SubmissionStatus.QUEUED})
    raise HttpError(404, f"unknown action {action!r} (hide, show, rerun)")


@endpoint(Access.HOST)
def host_export(request: Request, state: ServerState, ident: Identity, _data) -> Response:
    with state.db.read() as conn:
        if request.query_params.get("format") == "csv":
            return Response(host.export_csv(conn), media_type="text/csv; charset=utf-8")
        return JSONResponse(host.export_json(conn, state))


def routes() -> list[Route]:
    v1 = "/api/v1"
    return [
        Route(f"{v1}/health", health),
        Route(f"{v1}/challenge", challenge),
        Route(f"{v1}/teams", register, methods=["POST"]),
        Route(f"{v1}/team", me),
        Route(f"{v1}/team/token", new_token, methods=["POST"]),
        Route(f"{v1}/phases/{{phase}}/tasks/{{task}}/submissions", submit, methods=["POST"]),
        Route(f"{v1}/submissions", my_submissions),
        Route(f"{v1}/submissions/{{sid:int}}", submission),
        Route(f"{v1}/submissions/{{sid:int}}/choose", choose, methods=["POST"]),
        Route(f"{v1}/leaderboards/{{phase}}/{{task}}", leaderboard),
        Route(f"{v1}/host/teams", host_teams),
        Route(f"{v1}/host/teams/{{tid:int}}/{{action}}", host_team, methods=["POST"]),
        Route(f"{v1}/host/phases/{{phase}}/{{action}}", host_phase, methods=["POST"]),
        Route(f"{v1}/host/submissions/{{sid:int}}/{{action}}", host_submission, methods=["POST"]),
        Route(f"{v1}/host/export", host_export),
    ]
