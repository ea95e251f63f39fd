"""Leaderboards per phase and task: one row per team (the submission it picked, else its best), the
challenge's baselines, ranked by the task's main metric exactly as ``valor-bench leaderboard`` ranks.

Coverage (when the evaluation reports it): entries scored on the whole split are ranked together;
an entry scored on part of the split is ranked only against entries with the same availability digest
(the same set of clips), in its own group, and labelled partial.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, select

from valor_bench import __version__
from valor_bench.leaderboard import Entry
from valor_bench.metrics import MAIN_METRIC, main_metric_label, metric_info
from valor_bench.report import board_columns, competition_ranks, format_value
from valor_bench.server.config import Phase
from valor_bench.server.limits import iso
from valor_bench.server.schema import choices, submissions, teams
from valor_bench.server.statuses import TeamStatus
from valor_data.web.charts import Chart, Row, bar_chart

S = submissions.c


@dataclass
class BoardRow:
    entry: Entry
    rank: str
    team: str | None
    submission_id: int | None
    coverage: dict | None

    @property
    def coverage_text(self) -> str:
        c = self.coverage
        if not c:
            return "full"
        pct = c.get("percent", round(100 * float(c.get("share", 0)), 1))
        return f"{pct}% ({c.get('scored', '?')}/{c.get('split_clips', '?')} clips)" + (" partial" if c.get("partial") else "")


@dataclass
class BoardGroup:
    title: str
    digest: str | None
    partial: bool
    rows: list[BoardRow] = field(default_factory=list)


@dataclass
class Board:
    phase: Phase
    task: str
    columns: list[tuple[str | None, str]]
    groups: list[BoardGroup]

    @property
    def main_metric(self) -> str:
        return main_metric_label(self.task)

    def header(self, col: tuple[str | None, str]) -> str:
        direction, name = col
        return f"{direction + ' ' if direction else ''}{name} {metric_info(self.task, name).arrow}"

    def cells(self, row: BoardRow) -> list[str]:
        lower = set(row.entry.scores.get("lower_bounds") or [])
        return [format_value(row.entry.value(d, n), f"{d}.{n}" in lower) for d, n in self.columns]

    def as_json(self) -> dict:
        key = lambda d, n: f"{d}.{n}" if d else n  # noqa: E731
        return {
            "phase": self.phase.name, "task": self.task, "main_metric": self.main_metric,
            "higher_is_better": {key(d, n): metric_info(self.task, n).higher_is_better for d, n in self.columns},
            "groups": [{
                "title": g.title, "coverage_digest": g.digest, "partial": g.partial,
                "entries": [{
                    "rank": None if r.rank == "–" else int(r.rank), "team": r.team, "submission_id": r.submission_id,
                    "model_name": r.entry.model_name, "modality": r.entry.modality,
                    "external_data": r.entry.external_data, "url": r.entry.url, "reported": r.entry.reported,
                    "source": r.entry.source, "metrics": r.entry.metrics,
                    "lower_bounds": r.entry.scores.get("lower_bounds") or [], "coverage": r.coverage,
                    "date": r.entry.created_at,
                } for r in g.rows],
            } for g in self.groups],
        }

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["group", "rank", "team", "model", *[self.header(c) for c in self.columns], "modality",
                    "external data", "coverage", "source", "url", "date"])
        for g in self.groups:
            for r in g.rows:
                w.writerow([g.title, r.rank, r.team or "", r.entry.model_name or "", *self.cells(r),
                            r.entry.modality or "", r.entry.external_data or "", r.coverage_text, r.entry.source,
                            r.entry.url or "", r.entry.created_at])
        return buf.getvalue()


def _sorted(task: str, rows: list[BoardRow]) -> list[BoardRow]:
    direction, name = MAIN_METRIC[task]
    sign = -1 if metric_info(task, name).higher_is_better else 1
    return sorted(rows, key=lambda r: (r.entry.value(direction, name) is None,
                                       sign * (r.entry.value(direction, name) or 0), r.entry.created_at))


def _entry_of(row, result: dict) -> BoardRow:
    entry = Entry(
        id=row.id, task=row.task, split=row.phase, name=row.model_name, model_name=row.model_name,
        modality=row.modality, external_data=row.external_data, url=row.url, submission_sha256=row.blob_sha256,
        gt_sha256=row.gt_sha256, scores={k: result.get(k) for k in ("metrics", "metrics_dsl", "lower_bounds")},
        reported=False, note=None, created_at=iso(row.created_at), toolkit_version=__version__, metric_versions={},
    )
    return BoardRow(entry, "", row.team_name, row.id, result.get("coverage"))


def team_entries(conn: Connection, phase: str, task: str) -> list[BoardRow]:
    """Each approved team's standing submission: the one it chose, else its best finished one."""
    picked = dict(conn.execute(select(choices.c.team_id, choices.c.submission_id)
                               .where(and_(choices.c.phase == phase, choices.c.task == task))).all())
    rows = conn.execute(select(submissions, teams.c.name.label("team_name")).join(teams, teams.c.id == S.team_id)
                        .where(and_(S.phase == phase, S.task == task, S.result_json.is_not(None),
                                    S.hidden.is_(False), teams.c.status == TeamStatus.APPROVED))).all()
    by_team: dict[int, list[BoardRow]] = {}
    for row in rows:
        by_team.setdefault(row.team_id, []).append(_entry_of(row, json.loads(row.result_json)))
    out = []
    for team_id, candidates in by_team.items():
        chosen = [c for c in candidates if c.submission_id == picked.get(team_id)]
        out.append(chosen[0] if chosen else _sorted(task, candidates)[0])
    return out


def baseline_entries(phase: Phase, task: str) -> list[BoardRow]:
    out = []
    for i, b in enumerate(x for x in phase.baselines if x.task == task):
        metrics = b.metrics if task == "avc" else {"t2v": b.metrics.get("t2v"), "v2t": b.metrics.get("v2t")}
        entry = Entry(id=-1 - i, task=task, split=phase.name, name=b.name, model_name=b.name, modality=b.modality,
                      external_data=b.external_data, url=b.url, submission_sha256=None, gt_sha256=None,
                      scores={"metrics": metrics, "metrics_dsl": None, "lower_bounds": []}, reported=True,
                      note=b.note, created_at="", toolkit_version=__version__, metric_versions={})
        out.append(BoardRow(entry, "", None, None, None))
    return out


def build_board(conn: Connection, phase: Phase, task: str) -> Board:
    rows = team_entries(conn, phase.name, task)
    full = [r for r in rows if not (r.coverage and r.coverage.get("partial"))] + baseline_entries(phase, task)
    partial: dict[str, list[BoardRow]] = {}
    for r in rows:
        if r.coverage and r.coverage.get("partial"):
            partial.setdefault(str(r.coverage.get("digest")), []).append(r)
    groups = [BoardGroup("whole split", None, False, _sorted(task, full))]
    for digest, members in sorted(partial.items()):
        share = members[0].coverage_text
        groups.append(BoardGroup(f"partial coverage {share}, clips digest {digest[:12]}", digest, True,
                                 _sorted(task, members)))
    for g in groups:
        for rank, r in zip(competition_ranks(task, [r.entry for r in g.rows]), g.rows, strict=True):
            r.rank = rank
    return Board(phase, task, board_columns(task, [r.entry for g in groups for r in g.rows]), groups)


def breakdown_charts(task: str, breakdown: dict | None) -> list[Chart]:
    """One chart of the main metric per AudioSet top-level category, one for the most frequent labels."""
    if not breakdown:
        return []
    direction, metric = MAIN_METRIC[task]
    scale_cap = 100.0 if metric.startswith("R@") else None
    what = f"{direction} {metric}" if direction else metric
    charts = []
    for key, label_key, title in (("top_level", "category", "by AudioSet top-level category"),
                                  ("labels", "name", "by AudioSet label (most frequent)")):
        rows = [Row(str(r.get(label_key, "?")), float(r[metric]), int(r.get("n", 0)))
                for r in breakdown.get(key) or [] if isinstance(r.get(metric), int | float)]
        if rows:
            charts.append(bar_chart(f"{what} {metric_info(task, metric).arrow} {title}", rows, what,
                                    scale_max=scale_cap))
    return charts
