"""Human-readable output: evaluation tables with the audio-class breakdown, and the leaderboard in
table / markdown / html / json form. Directions come from ``metrics.py`` (↑ higher is better, ↓ lower).
"""

from __future__ import annotations

import html
import io
import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valor_bench.evaluate import Evaluation
from valor_bench.leaderboard import Entry
from valor_bench.metrics import (
    AVC_METRICS,
    AVR_METRICS,
    DIRECTIONS,
    MAIN_METRIC,
    main_metric_label,
    metric_info,
)

LEADERBOARD_FORMATS = ("table", "markdown", "html", "json")


def _fmt(value: float | None, lower_bound: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:.2f}"
    return f"≥{text}" if lower_bound else text


def print_evaluation(ev: Evaluation, console: Console) -> None:
    what = f"{ev.n:,} clips" + (f", {ev.n_text:,} captions" if ev.n_text is not None else "")
    console.print(f"[bold]{ev.task.upper()}[/bold] on {ev.split} ({what})")
    if ev.task == "avc":
        table = Table("metric", "score")
        for m in AVC_METRICS:
            if m.name in ev.metrics:
                table.add_row(f"{m.name} {m.arrow}", _fmt(ev.metrics[m.name]))
    else:
        dirs = [d for d in DIRECTIONS if ev.metrics.get(d)]
        cols = [f"{d}" for d in dirs] + [f"{d} (DSL)" for d in dirs if ev.metrics_dsl]
        table = Table("metric", *cols)
        for m in AVR_METRICS:
            cells = [_fmt(ev.metrics[d][m.name], f"{d}.{m.name}" in ev.lower_bounds) for d in dirs]
            if ev.metrics_dsl:
                cells += [_fmt(ev.metrics_dsl[d][m.name]) for d in dirs]
            table.add_row(f"{m.name} {m.arrow}", *cells)
    console.print(table)
    _print_breakdown(ev, console)
    for note in ev.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


def _print_breakdown(ev: Evaluation, console: Console) -> None:
    if ev.task == "avc":
        names = [m for m in ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE") if m in ev.metrics]
        unit = "mean per-clip score"
    else:
        names = ["R@1", "R@5", "R@10", "MdR"]
        unit = "t2v queries of clips with the class"
    for key, title, label in (("top_level", "AudioSet top-level category", "category"),
                              ("labels", "AudioSet label, most frequent", "name")):
        rows = ev.breakdown.get(key) or []
        if not rows:
            continue
        table = Table(label, "n", *[f"{n} {metric_info(ev.task, n).arrow}" for n in names],
                      title=f"by {title} ({unit})")
        for r in rows:
            table.add_row(escape(r[label]), f"{r['n']:,}", *[_fmt(r.get(n)) for n in names])
        console.print(table)


# ---------------------------------------------------------------------------------------- leaderboard
def _columns(task: str, rows: list[Entry]) -> list[tuple[str | None, str]]:
    if task == "avr":
        return [(d, m.name) for d in DIRECTIONS for m in AVR_METRICS]
    cols = [(None, m.name) for m in AVC_METRICS if m.name != "SPICE"]
    if any(e.value(None, "SPICE") is not None for e in rows):
        cols.append((None, "SPICE"))
    return cols


def _header(task: str, col: tuple[str | None, str]) -> str:
    direction, name = col
    return f"{direction + ' ' if direction else ''}{name} {metric_info(task, name).arrow}"


def _ranks(task: str, rows: list[Entry]) -> list[str]:
    """Competition ranks ("1, 2, 2, 4") by the main metric; "–" where it is missing."""
    direction, name = MAIN_METRIC[task]
    out, prev, rank = [], object(), 0
    for i, e in enumerate(rows, 1):
        value = e.value(direction, name)
        if value is None:
            out.append("–")
            continue
        if value != prev:
            rank, prev = i, value
        out.append(str(rank))
    return out


def _table_rows(task: str, rows: list[Entry]) -> tuple[list[str], list[list[str]]]:
    cols = _columns(task, rows)
    header = ["rank", "name", "modality", "external data", *[_header(task, c) for c in cols], "source", "date"]
    body = []
    for rank, e in zip(_ranks(task, rows), rows, strict=True):
        lower = set(e.scores.get("lower_bounds") or [])
        cells = [_fmt(e.value(d, n), f"{d}.{n}" in lower) for d, n in cols]
        body.append([rank, e.name, e.modality or "?", e.external_data or "–", *cells, e.source, e.created_at[:10]])
    return header, body


def render_leaderboard(task: str, split: str | None, rows: list[Entry], fmt: str = "table") -> str:
    title = f"{task.upper()} leaderboard, split {split or 'all'}, ranked by {main_metric_label(task)}"
    if fmt == "json":
        cols = _columns(task, rows)
        return json.dumps({
            "task": task, "split": split, "main_metric": main_metric_label(task),
            "higher_is_better": {(f"{d}.{n}" if d else n): metric_info(task, n).higher_is_better for d, n in cols},
            "entries": [
                {"rank": None if r == "–" else int(r), "id": e.id, "name": e.name, "model_name": e.model_name,
                 "modality": e.modality, "external_data": e.external_data, "url": e.url, "reported": e.reported,
                 "note": e.note, "split": e.split, "metrics": e.metrics, "scores": e.scores,
                 "submission_sha256": e.submission_sha256, "gt_sha256": e.gt_sha256, "created_at": e.created_at,
                 "toolkit_version": e.toolkit_version, "metric_versions": e.metric_versions}
                for r, e in zip(_ranks(task, rows), rows, strict=True)
            ],
        }, indent=2, ensure_ascii=False)
    header, body = _table_rows(task, rows)
    if fmt == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines)
    if fmt == "html":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in body)
        return (f"<table>\n<caption>{html.escape(title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
                f"<tbody>\n{trs}</tbody>\n</table>")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(LEADERBOARD_FORMATS)}")
    table = Table(*header, title=title)
    for row in body:
        table.add_row(*[escape(c) for c in row])
    buf = io.StringIO()
    Console(file=buf, width=max(120, 14 * len(header)), highlight=False).print(table)
    return buf.getvalue().rstrip("\n")
