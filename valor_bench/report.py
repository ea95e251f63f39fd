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
from valor_bench.leaderboard import Board, Entry, group_boards
from valor_bench.metrics import (
    AVC_METRICS,
    AVR_METRICS,
    DIRECTIONS,
    MAIN_METRIC,
    main_metric_label,
    metric_info,
)

LEADERBOARD_FORMATS = ("table", "markdown", "html", "json")


def format_value(value: float | None, lower_bound: bool = False) -> str:
    """A metric as every report shows it (terminal, markdown, HTML, the hosted board): two decimals, "–"
    when missing, "≥" when a partial submission only bounds it from below."""
    if value is None:
        return "–"
    text = f"{value:.2f}"
    return f"≥{text}" if lower_bound else text


def print_evaluation(ev: Evaluation, console: Console) -> None:
    what = f"{ev.n:,} clips" + (f", {ev.n_text:,} captions" if ev.n_text is not None else "")
    label = f" [bold red]PARTIAL ({ev.coverage.short().removeprefix('partial ')} of the split)[/bold red]" \
        if ev.coverage.partial else ""
    console.print(f"[bold]{ev.task.upper()}[/bold] on {escape(ev.split)} ({what}){label}")
    console.print(ev.coverage.describe(), markup=False, highlight=False, soft_wrap=True)
    if ev.task == "avc":
        table = Table("metric", "score")
        for m in AVC_METRICS:
            if m.name in ev.metrics:
                table.add_row(f"{m.name} {m.arrow}", format_value(ev.metrics[m.name]))
    else:
        dirs = [d for d in DIRECTIONS if ev.metrics.get(d)]
        cols = [f"{d}" for d in dirs] + [f"{d} (DSL)" for d in dirs if ev.metrics_dsl]
        table = Table("metric", *cols)
        for m in AVR_METRICS:
            cells = [format_value(ev.metrics[d][m.name], f"{d}.{m.name}" in ev.lower_bounds) for d in dirs]
            if ev.metrics_dsl:
                cells += [format_value(ev.metrics_dsl[d][m.name]) for d in dirs]
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
            table.add_row(escape(r[label]), f"{r['n']:,}", *[format_value(r.get(n)) for n in names])
        console.print(table)


# ---------------------------------------------------------------------------------------- leaderboard
def board_columns(task: str, rows: list[Entry]) -> list[tuple[str | None, str]]:
    """The (direction, metric) columns of a board: SPICE only where some entry has it (it needs Java)."""
    if task == "avr":
        return [(d, m.name) for d in DIRECTIONS for m in AVR_METRICS]
    cols = [(None, m.name) for m in AVC_METRICS if m.name != "SPICE"]
    if any(e.value(None, "SPICE") is not None for e in rows):
        cols.append((None, "SPICE"))
    return cols


def _header(task: str, col: tuple[str | None, str]) -> str:
    direction, name = col
    return f"{direction + ' ' if direction else ''}{name} {metric_info(task, name).arrow}"


def competition_ranks(task: str, rows: list[Entry]) -> list[str]:
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


def _coverage_cell(e: Entry) -> str:
    return e.coverage.short() if e.coverage else "full"


def _table_rows(task: str, rows: list[Entry]) -> tuple[list[str], list[list[str]]]:
    cols = board_columns(task, rows)
    header = ["rank", "name", "modality", "external data", "coverage", *[_header(task, c) for c in cols], "source",
              "date"]
    body = []
    for rank, e in zip(competition_ranks(task, rows), rows, strict=True):
        lower = set(e.scores.get("lower_bounds") or [])
        cells = [format_value(e.value(d, n), f"{d}.{n}" in lower) for d, n in cols]
        body.append([rank, e.name, e.modality or "?", e.external_data or "–", _coverage_cell(e), *cells, e.source,
                     e.created_at[:10]])
    return header, body


def _board_note(board: Board) -> str:
    if board.hidden_partial:
        return (f"{board.hidden_partial} partial-coverage entr{'ies' if board.hidden_partial > 1 else 'y'} of this "
                "ground truth not shown (--coverage grouped shows them on boards of their own)")
    return "no full-coverage entries" if not board.entries else ""


def _entry_json(e: Entry, rank: str, board: int) -> dict:
    return {"rank": None if rank == "–" else int(rank), "board": board, "id": e.id, "name": e.name,
            "model_name": e.model_name, "modality": e.modality, "external_data": e.external_data, "url": e.url,
            "reported": e.reported, "note": e.note, "split": e.split, "partial": e.partial,
            "coverage": e.coverage.as_json() if e.coverage else None, "metrics": e.metrics, "scores": e.scores,
            "submission_sha256": e.submission_sha256, "gt_sha256": e.gt_sha256, "created_at": e.created_at,
            "toolkit_version": e.toolkit_version, "metric_versions": e.metric_versions}


def _leaderboard_json(task: str, split: str | None, rows: list[Entry], boards: list[Board], view: str) -> str:
    cols = board_columns(task, rows)
    out_boards, flat = [], []
    for i, board in enumerate(boards):
        ranks = competition_ranks(task, board.entries)
        shown = [_entry_json(e, r, i) for r, e in zip(ranks, board.entries, strict=True)]
        flat += shown
        out_boards.append({"title": board.title(), "ground_truth": {"split": board.split, "sha256": board.gt_sha256},
                           "view": board.view, "coverage": board.coverage.as_json() if board.coverage else None,
                           "hidden_partial": board.hidden_partial, "entries": shown})
    return json.dumps({
        "task": task, "split": split, "coverage_view": view, "main_metric": main_metric_label(task),
        "higher_is_better": {(f"{d}.{n}" if d else n): metric_info(task, n).higher_is_better for d, n in cols},
        "boards": out_boards, "entries": flat,
    }, indent=2, ensure_ascii=False)


def _render_board(board: Board, fmt: str) -> str:
    header, body = _table_rows(board.task, board.entries)
    title, note = board.title(), _board_note(board)
    if fmt == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines + (["", f"_{note}_"] if note else []))
    if fmt == "html":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in body)
        foot = f"<tfoot><tr><td colspan=\"{len(header)}\">{html.escape(note)}</td></tr></tfoot>\n" if note else ""
        return (f"<table>\n<caption>{html.escape(title)}</caption>\n<thead><tr>{head}</tr></thead>\n{foot}"
                f"<tbody>\n{trs}</tbody>\n</table>")
    table = Table(*header, title=title, caption=note or None)
    for row in body:
        table.add_row(*[escape(c) for c in row])
    buf = io.StringIO()
    Console(file=buf, width=max(120, 14 * len(header)), highlight=False).print(table)
    return buf.getvalue().rstrip("\n")


def render_leaderboard(task: str, split: str | None, rows: list[Entry], fmt: str = "table",
                       coverage: str = "grouped") -> str:
    """The boards of ``rows`` (see :func:`group_boards`; ``coverage`` is the view) in ``fmt``.

    Rows on different ground truths, or scored on different clips, are never ranked together: each
    board's title says which ground truth and coverage it shows.
    """
    if fmt not in LEADERBOARD_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(LEADERBOARD_FORMATS)}")
    boards = group_boards(rows, coverage)
    if fmt == "json":
        return _leaderboard_json(task, split, rows, boards, coverage)
    scope = f"{task.upper()} leaderboard, split {split or 'all'}"
    if not boards:
        text = f"{scope}: no entries"
        return {"markdown": f"_{text}_", "html": f"<p>{html.escape(text)}</p>"}.get(fmt, text)
    parts = [_render_board(b, fmt) for b in boards]
    if len(boards) > 1:
        intro = (f"{scope}: {len(boards)} boards, one per ground truth and coverage; ranks never cross boards "
                 "(different ground truths or clips give numbers that are not comparable)")
        parts.insert(0, {"markdown": f"_{intro}_", "html": f"<p>{html.escape(intro)}</p>"}.get(fmt, intro))
    return "\n\n".join(parts)
