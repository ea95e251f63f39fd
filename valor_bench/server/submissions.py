"""Submissions as the web process sees them: accepting an upload, who may read what, the team's pick.

Accepting is the only write path: metadata and content checks first (cheap; no scoring here), then one
transaction that re-checks the limits with the team's row locked (two parallel uploads cannot both take
the last slot), refuses a byte-identical resubmission, moves the file into the store and queues the job.
A submission row exists only once its file is durably in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.engine import Row

from valor_bench.formats import MODALITIES
from valor_bench.server.config import EXTENSIONS, Phase
from valor_bench.server.limits import Usage, iso, usage
from valor_bench.server.queue import add_event
from valor_bench.server.schema import choices, events, phase_state, submissions, teams
from valor_bench.server.security import check_npz, scrub
from valor_bench.server.state import ServerState
from valor_bench.server.statuses import BoardVisibility, SubmissionStatus
from valor_bench.server.teams import Identity, clean_text, clean_url
from valor_data.web.errors import HttpError, InputError
from valor_data.web.requests import file_chunks, json_depth_exceeds
from valor_data.web.uploads import Upload, mib

S = submissions.c


def read_metadata_fields(fields: dict[str, str]) -> dict[str, str | None]:
    """model_name (required), modality, external_data, url: the sidecar's fields, checked."""
    meta = {
        "model_name": clean_text(fields.get("model_name"), "model_name", 200, required=True),
        "modality": clean_text(fields.get("modality"), "modality", 4),
        "external_data": clean_text(fields.get("external_data"), "external_data", 500),
        "url": clean_url(fields.get("url")),
    }
    if meta["modality"] is not None and meta["modality"] not in MODALITIES:
        raise InputError(f"modality: one of {', '.join(MODALITIES)} (audio+video, video, audio), got {meta['modality']!r}")
    return meta


def check_content(state: ServerState, phase: Phase, task: str, upload: Upload) -> str:
    """The stored extension, after the checks that can refuse a file without reading it; raises HttpError."""
    name = upload.filename or "upload"
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in EXTENSIONS[task]:
        raise HttpError(415, f"{name}: a {task.upper()} submission is a {' or '.join(EXTENSIONS[task])} file")
    if ext == ".npz":
        check_npz(upload.path, name, state.facts[phase.name].budget)
    else:
        limit = state.challenge.max_json_bytes
        if upload.size > limit:
            raise HttpError(413, f"{name}: {mib(upload.size)} of JSON is over the {mib(limit)} limit for JSON "
                                     "submissions (they are parsed in memory); send an AVR matrix as .npz")
        where = json_depth_exceeds(file_chunks(upload.path), state.challenge.max_json_depth)
        if where is not None:
            raise HttpError(422, f"{name}: JSON nested deeper than {state.challenge.max_json_depth} levels "
                                     f"(at byte {where:,}); a submission needs 2")
    return ext


def accept(state: ServerState, ident: Identity, phase: Phase, task: str, upload: Upload) -> int:
    """Queue ``upload`` as the team's submission; returns its id. Raises HttpError / InputError."""
    try:
        meta = read_metadata_fields(upload.fields)
        ext = check_content(state, phase, task, upload)
        db = state.db
        with db.write() as conn:
            team_q = select(teams).where(teams.c.id == ident.team_id)
            conn.execute(team_q.with_for_update() if db.postgres else team_q).one()
            now = conn.execute(select(db.now())).scalar()
            used = usage(conn, ident.team_id, phase, task, now)
            if used.refusal:
                raise HttpError(429, used.refusal)
            dup = conn.execute(select(S.id, S.created_at).where(and_(
                S.team_id == ident.team_id, S.phase == phase.name, S.task == task, S.blob_sha256 == upload.sha256,
                S.status != SubmissionStatus.FAILED))).first()
            if dup:
                raise HttpError(409, f"{upload.filename}: byte-identical to your submission #{dup.id} of "
                                         f"{iso(dup.created_at)}; not queued again")
            state.store.commit(upload.path, upload.sha256, ext)
            upload.path = None  # now owned by the store
            sid = conn.execute(insert(submissions).values(
                team_id=ident.team_id, phase=phase.name, task=task, status=SubmissionStatus.QUEUED, blob_sha256=upload.sha256,
                blob_ext=ext, filename=upload.filename, size_bytes=upload.size, created_at=now, attempts=0, runs=0,
                hidden=False, gt_sha256=state.facts[phase.name].gt_sha256, **meta)).inserted_primary_key[0]
            add_event(conn, db, sid, SubmissionStatus.QUEUED, f"{upload.size:,} bytes, sha256 {upload.sha256[:12]}", "team")
            return int(sid)
    finally:
        upload.discard()


def team_usage(state: ServerState, conn: Connection, team_id: int, phase: Phase, task: str) -> Usage:
    return usage(conn, team_id, phase, task, conn.execute(select(state.db.now())).scalar())


def is_published(conn: Connection, phase: str) -> bool:
    return bool(conn.execute(select(phase_state.c.published).where(phase_state.c.phase == phase)).scalar())


def get_visible(conn: Connection, ident: Identity, submission_id: int) -> Row | None:
    """The submission if ``ident`` may see it (its team or the host); None otherwise (callers answer 404,
    so another team cannot even learn that the id exists)."""
    row = conn.execute(select(submissions, teams.c.name.label("team_name"))
                       .join(teams, teams.c.id == S.team_id).where(S.id == submission_id)).first()
    if row is None or not (ident.is_host or (ident.team_id is not None and row.team_id == ident.team_id)):
        return None
    return row


@dataclass
class SubmissionView:
    """What one reader may see of one submission."""

    row: Row
    scores_visible: bool
    result: dict | None
    problems: list[str]
    error: str | None
    error_detail: str | None
    events: list[dict]
    chosen: bool

    def as_json(self, phase: Phase) -> dict:
        r = self.row
        out = {
            "id": r.id, "team": r.team_name, "phase": r.phase, "task": r.task, "status": r.status,
            "filename": r.filename, "size_bytes": r.size_bytes, "sha256": r.blob_sha256,
            "model_name": r.model_name, "modality": r.modality, "external_data": r.external_data, "url": r.url,
            "created_at": iso(r.created_at), "started_at": iso(r.started_at), "finished_at": iso(r.finished_at),
            "hidden": bool(r.hidden), "chosen": self.chosen, "problems": self.problems, "error": self.error,
            "scores_visible": self.scores_visible,
            "events": [{"at": iso(e["at"]), "status": e["status"], "detail": e["detail"]} for e in self.events],
        }
        if self.scores_visible and self.result is not None:
            out.update({k: self.result.get(k) for k in ("metrics", "metrics_dsl", "lower_bounds", "breakdown",
                                                        "notes", "n", "n_text", "coverage")})
        elif not self.scores_visible:
            out["scores_hidden_reason"] = (f"phase {phase.name} results are private until the host publishes them")
        if self.error_detail is not None:
            out["error_detail"] = self.error_detail
        return out


def view(state: ServerState, conn: Connection, ident: Identity, row: Row) -> SubmissionView:
    phase = state.challenge.phase(row.phase)
    published = is_published(conn, row.phase)
    scores_visible = ident.is_host or published or phase.show_own_scores
    result = json.loads(row.result_json) if row.result_json else None
    hide = state.hidden_strings()
    problems = [scrub(p, hide) for p in json.loads(row.problems_json)] if row.problems_json else []
    evs = [{"at": e.at, "status": e.status, "detail": e.detail if ident.is_host else scrub(e.detail, hide),
            "actor": e.actor if ident.is_host else None}
           for e in conn.execute(select(events).where(events.c.submission_id == row.id).order_by(events.c.id))]
    chosen = conn.execute(select(choices.c.submission_id).where(and_(
        choices.c.team_id == row.team_id, choices.c.phase == row.phase, choices.c.task == row.task))).scalar()
    return SubmissionView(row, scores_visible, result, problems, scrub(row.error, hide),
                          row.error_detail if ident.is_host else None, evs, chosen == row.id)


def choose(conn: Connection, ident: Identity, row: Row) -> None:
    """Make ``row`` the team's entry on the board of its phase and task (it must have scores)."""
    if row.result_json is None:
        raise InputError(f"submission #{row.id} has no scores yet ({row.status}): only a finished one can stand "
                         "on the board")
    if row.hidden:
        raise InputError(f"submission #{row.id} was hidden by the host")
    key = and_(choices.c.team_id == row.team_id, choices.c.phase == row.phase, choices.c.task == row.task)
    conn.execute(delete(choices).where(key))
    conn.execute(insert(choices).values(team_id=row.team_id, phase=row.phase, task=row.task, submission_id=row.id))


def set_hidden(conn: Connection, state: ServerState, submission_id: int, hidden: bool) -> bool:
    res = conn.execute(update(submissions).where(S.id == submission_id).values(hidden=hidden))
    if res.rowcount != 1:
        return False
    add_event(conn, state.db, submission_id, BoardVisibility.HIDDEN if hidden else BoardVisibility.SHOWN,
              "hidden from the board by the host" if hidden else "shown on the board again", "host")
    return True


def team_submissions(conn: Connection, team_id: int) -> list[Row]:
    return list(conn.execute(select(submissions).where(S.team_id == team_id).order_by(S.id.desc())))
