"""Route helpers both the pages and the API use: which phase and task a URL names, who may read a board,
and the one submission upload route (identity, rate, approval, limits checked before the first byte is
read; then the streamed receive and the accept transaction)."""

from __future__ import annotations

from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from valor_bench.server import submissions
from valor_bench.server.config import Phase
from valor_bench.server.routing import identify_request, is_api, refusals, require, state_of
from valor_bench.server.schema import phase_state
from valor_bench.server.state import ServerState
from valor_bench.server.statuses import Access, SubmissionStatus
from valor_bench.server.teams import Identity
from valor_data.web.errors import HttpError
from valor_data.web.sessions import CSRF_FIELD, check_csrf
from valor_data.web.uploads import receive_upload


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


@refusals
async def submit(request: Request) -> Response:
    """``POST`` a submission with the fields model_name, modality, external_data, url: from the API (201 + the
    job as JSON) the body is the file (``application/octet-stream``, the fields and ``filename`` in the query
    string; multipart is taken too), from the team page's form it is multipart (field ``file``; CSRF checked
    before the file is accepted; a redirect to the submission's page)."""
    state = state_of(request)
    ident = await identify_request(request)
    require(Access.APPROVED, ident)
    task = request.path_params["task"]
    phase = phase_task(state, request.path_params["phase"], task)

    def used():
        with state.db.read() as conn:
            return submissions.team_usage(state, conn, ident.team_id, phase, task)

    refusal = (await run_in_threadpool(used)).refusal
    if refusal:  # refused before a byte of the file is received
        raise HttpError(429, refusal)
    form = not is_api(request)
    up = await receive_upload(request, state.store.incoming, state.challenge.max_upload_bytes[task],
                              limit_name="limit for this task", raw=not form)
    if form:
        try:
            check_csrf(request, up.fields.pop(CSRF_FIELD, None))
        except HttpError:
            up.discard()
            raise
    sid = await run_in_threadpool(submissions.accept, state, ident, phase, task, up)
    if form:
        return RedirectResponse(f"/submissions/{sid}", status_code=303)
    return JSONResponse({"id": sid, "status": SubmissionStatus.QUEUED,
                         "url": str(request.url_for("submission_page", sid=sid)),
                         "api": f"/api/v1/submissions/{sid}"}, status_code=201)
