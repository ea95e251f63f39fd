"""Route helpers both the pages and the API use: which phase and task a URL names, who may read a
board, and the whole upload path (identity, rate, approval, limits checked before the first byte is
read; then the streamed receive and the accept transaction)."""

from __future__ import annotations

from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from valor_bench.server import submissions
from valor_bench.server.app import HttpError, error_response, identify_request, require, state_of
from valor_bench.server.config import Phase
from valor_bench.server.schema import phase_state
from valor_bench.server.security import UploadRefused, same_secret
from valor_bench.server.state import ServerState
from valor_bench.server.teams import Identity, InputError
from valor_bench.server.uploads import receive_upload


def published_phases(conn: Connection) -> dict[str, bool]:
    return {r.phase: bool(r.published) for r in conn.execute(select(phase_state))}


def phase_task(state: ServerState, phase: str, task: str) -> Phase:
    p = state.challenge.phases.get(phase)
    if p is None or task not in p.tasks:
        raise HttpError(404, f"no task {task!r} in phase {phase!r}")
    return p


def own_submission(conn: Connection, ident: Identity, sid: int):
    """The submission ``ident`` may read (its team's, or any for the host); 404 otherwise, so another team
    cannot even learn that the id exists."""
    row = submissions.get_visible(conn, ident, sid)
    if row is None:
        raise HttpError(404, f"no submission #{sid} of yours")
    return row


def board_access(conn: Connection, ident: Identity, phase: Phase) -> None:
    if not (ident.is_host or submissions.is_published(conn, phase.name)):
        raise HttpError(403, f"the results of phase {phase.name} are private until the host publishes them")


async def upload_submission(request: Request, check_csrf: bool) -> int | Response:
    """The queued submission's id, or the refusal as a response (JSON for the API, a page for the form)."""
    try:
        return await _receive_submission(request, check_csrf)
    except HttpError as e:
        return error_response(request, e.status, e.message, e.headers)
    except UploadRefused as e:
        return error_response(request, e.status, str(e))
    except InputError as e:
        return error_response(request, 422, str(e))
    except ClientDisconnect:
        return Response(status_code=400)


async def _receive_submission(request: Request, check_csrf: bool) -> int:
    """Everything from the request line to a queued submission id; raises HttpError, UploadRefused,
    InputError or ClientDisconnect."""
    state = state_of(request)
    ident = await identify_request(request)
    require("approved", ident)
    task = request.path_params["task"]
    phase = phase_task(state, request.path_params["phase"], task)

    def used():
        with state.db.read() as conn:
            return submissions.team_usage(state, conn, ident.team_id, phase, task)

    refusal = (await run_in_threadpool(used)).refusal
    if refusal:  # refused before a byte of the file is received
        raise HttpError(429, refusal)
    up = await receive_upload(request, state.store, state.challenge.max_upload_bytes[task])
    if check_csrf and not same_secret(up.fields.get("csrf_token"), request.session.get("csrf")):
        up.discard()
        raise HttpError(403, "this form expired or was not sent from this site (CSRF check); reload the page")
    up.fields.pop("csrf_token", None)
    return await run_in_threadpool(submissions.accept, state, ident, phase, task, up)
