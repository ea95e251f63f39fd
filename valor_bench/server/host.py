"""What only the host may do: approve teams, publish or hide a phase's results, hide or re-run a
submission, and export everything. The web pages and the JSON API both call these functions.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from sqlalchemy import Connection, select, update

from valor_bench.metrics import AVC_METRICS, AVR_METRICS, DIRECTIONS
from valor_bench.server.limits import iso
from valor_bench.server.queue import requeue
from valor_bench.server.schema import choices, events, phase_state, submissions, teams
from valor_bench.server.state import ServerState

S = submissions.c
TEAM_FIELDS = ("id", "name", "contact", "url", "status", "created_at", "approved_at")
SUBMISSION_FIELDS = ("id", "team_id", "phase", "task", "status", "filename", "size_bytes", "blob_sha256",
                     "model_name", "modality", "external_data", "url", "created_at", "started_at", "finished_at",
                     "attempts", "runs", "hidden", "main_score", "coverage_digest", "coverage_partial", "gt_sha256",
                     "error", "error_detail")
TIME_FIELDS = {"created_at", "approved_at", "started_at", "finished_at", "at", "changed_at"}


def _plain(row, fields) -> dict:
    return {f: iso(getattr(row, f)) if f in TIME_FIELDS else getattr(row, f) for f in fields}


def set_published(conn: Connection, state: ServerState, phase: str, published: bool) -> None:
    conn.execute(update(phase_state).where(phase_state.c.phase == phase)
                 .values(published=published, changed_at=select(state.db.now()).scalar_subquery()))


def rerun(conn: Connection, state: ServerState, submission_id: int) -> bool:
    return requeue(conn, state.db, submission_id, "host")


def list_teams(conn: Connection) -> list[dict]:
    return [_plain(r, TEAM_FIELDS) for r in conn.execute(select(teams).order_by(teams.c.id))]


def list_submissions(conn: Connection, limit: int | None = None) -> list[dict]:
    q = (select(submissions, teams.c.name.label("team_name")).join(teams, teams.c.id == S.team_id)
         .order_by(S.id.desc()))
    out = []
    for r in conn.execute(q.limit(limit) if limit else q):
        d = _plain(r, SUBMISSION_FIELDS)
        d["team"] = r.team_name
        d["problems"] = json.loads(r.problems_json) if r.problems_json else []
        d["result"] = json.loads(r.result_json) if r.result_json else None
        out.append(d)
    return out


def export_json(conn: Connection, state: ServerState) -> dict:
    """Everything the server knows except secrets (token hashes, the session key) and uploaded files."""
    return {
        "challenge": state.challenge.title,
        "exported_at": iso(datetime.now(timezone.utc)),
        "phases": [{"phase": r.phase, "published": bool(r.published), "changed_at": iso(r.changed_at),
                    "gt_sha256": state.facts[r.phase].gt_sha256 if r.phase in state.facts else None}
                   for r in conn.execute(select(phase_state).order_by(phase_state.c.phase))],
        "teams": list_teams(conn),
        "submissions": list_submissions(conn)[::-1],
        "choices": [dict(r._mapping) for r in conn.execute(select(choices))],
        "events": [{"submission_id": r.submission_id, "at": iso(r.at), "status": r.status, "detail": r.detail,
                    "actor": r.actor} for r in conn.execute(select(events).order_by(events.c.id))],
    }


def _metric_columns() -> list[tuple[str, str | None, str]]:
    cols = [("avr", d, m.name) for d in DIRECTIONS for m in AVR_METRICS]
    return cols + [("avc", None, m.name) for m in AVC_METRICS]


def export_csv(conn: Connection) -> str:
    """One row per submission with every metric in its own column (empty where not applicable)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    metric_cols = _metric_columns()
    fields = [f for f in SUBMISSION_FIELDS if f != "error_detail"]
    w.writerow(["team", *fields, "problems", *[f"{t}:{d + ' ' if d else ''}{n}" for t, d, n in metric_cols]])
    for s in list_submissions(conn)[::-1]:
        metrics = (s["result"] or {}).get("metrics") or {}
        values = []
        for task, d, n in metric_cols:
            block = (metrics.get(d) or {}) if d else metrics
            values.append(block.get(n, "") if task == s["task"] else "")
        w.writerow([s["team"], *[s[f] for f in fields], " | ".join(s["problems"]), *values])
    return buf.getvalue()
