"""Submission limits per team, phase and task: per UTC day, per UTC month, in total, and the phase's window.

A refusal always says when the next submission will be allowed (the next UTC midnight, the first of the
next month, the phase's opening) or that it never will (total reached, phase closed). Failed submissions
(an invalid file) do not count: they cost a worker a few seconds and reveal no score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, case, func, select

from valor_bench.server.config import Phase
from valor_bench.server.schema import submissions
from valor_bench.server.statuses import SubmissionStatus

S = submissions.c


@dataclass(frozen=True)
class Usage:
    today: int
    this_month: int
    total: int
    refusal: str | None  # why the next submission would be refused, None when it is allowed
    next_allowed: datetime | None  # when it will be allowed again (None: now, or never)

    def as_json(self, phase: Phase) -> dict:
        lim = phase.limits
        return {"today": self.today, "this_month": self.this_month, "total": self.total,
                "limits": {"per_day": lim.per_day, "per_month": lim.per_month, "total": lim.total},
                "allowed": self.refusal is None, "refusal": self.refusal,
                "next_allowed": iso(self.next_allowed)}


def iso(t: datetime | float | None) -> str | None:
    if t is None:
        return None
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(now: datetime) -> datetime:
    return _day_start(now).replace(day=1)


def _next_month(now: datetime) -> datetime:
    start = _month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def usage(conn: Connection, team_id: int, phase: Phase, task: str, now_epoch: float) -> Usage:
    """Counts of the team's submissions that count, and whether one more is allowed now."""
    now = datetime.fromtimestamp(now_epoch, timezone.utc)
    day, month = _day_start(now).timestamp(), _month_start(now).timestamp()
    counted = (S.team_id == team_id) & (S.phase == phase.name) & (S.task == task) & (S.status != SubmissionStatus.FAILED)
    row = conn.execute(select(
        func.count(),
        func.coalesce(func.sum(case((S.created_at >= day, 1), else_=0)), 0),
        func.coalesce(func.sum(case((S.created_at >= month, 1), else_=0)), 0),
    ).where(counted)).one()
    total, today, this_month = int(row[0]), int(row[1]), int(row[2])
    lim = phase.limits
    reason, next_at = None, None
    if phase.opens and now < phase.opens:
        reason, next_at = f"phase {phase.name} opens at {iso(phase.opens)}", phase.opens
    elif phase.closes and now >= phase.closes:
        reason = f"phase {phase.name} closed at {iso(phase.closes)}"
    elif lim.total is not None and total >= lim.total:
        reason = f"limit reached: {total} of {lim.total} {task.upper()} submissions in total for phase {phase.name}"
    elif lim.per_month is not None and this_month >= lim.per_month:
        reason, next_at = (f"limit reached: {this_month} of {lim.per_month} {task.upper()} submissions this month "
                           f"(UTC) in phase {phase.name}"), _next_month(now)
    elif lim.per_day is not None and today >= lim.per_day:
        reason, next_at = (f"limit reached: {today} of {lim.per_day} {task.upper()} submissions today (UTC) in "
                           f"phase {phase.name}"), _day_start(now) + timedelta(days=1)
    if next_at and phase.closes and next_at >= phase.closes:
        next_at = None  # the phase closes first
    if reason is None:
        return Usage(today, this_month, total, None, None)
    when = f"next allowed at {iso(next_at)}" if next_at else "no more submissions to this phase"
    return Usage(today, this_month, total, f"{reason}; {when}", next_at)
