"""``valor-bench leaderboard``: show the local leaderboard, ranked by each task's main metric."""

from __future__ import annotations

from pathlib import Path

import click

from valor_bench.commands.common import (
    task_option,
)
from valor_bench.ground_truth import (
    GroundTruthError,
    load_ground_truth,
)
from valor_bench.leaderboard import (
    COVERAGE_VIEWS,
    LeaderboardError,
    add_reference_rows,
    connect,
    default_db_path,
    entries,
)
from valor_bench.report import LEADERBOARD_FORMATS, render_leaderboard

__all__ = ["leaderboard"]  # the verb, loaded by name (valor_data.lazycli)


@click.command()
@task_option(required=False)
@click.option("--split", default="test", show_default=True,
              help="Split label to show ('test', 'val', 'file:NAME' for --annotations runs, 'all').")
@click.option("--format", "fmt", type=click.Choice(LEADERBOARD_FORMATS), default="table", show_default=True)
@click.option("--coverage", "view", type=click.Choice(COVERAGE_VIEWS), default="grouped", show_default=True,
              help="grouped: full-coverage entries ranked, partial ones apart (ranked only with the same available "
                   "clips); full: full coverage only; all: every entry of a ground truth ranked together.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file (default: $VALOR_LEADERBOARD or ~/.cache/valor/leaderboard.sqlite).")
@click.option("--add-reference", is_flag=True,
              help="Enter the VALOR paper's VALOR-B / VALOR-L test results, marked 'reported, not reproduced'.")
def leaderboard(task: str | None, split: str, fmt: str, view: str, db: Path | None, add_reference: bool) -> None:
    """Show the local leaderboard, ranked by the task's main metric (AVR: t2v R@1, AVC: CIDEr).

    One board per ground truth and coverage: entries scored on different annotations or different clips
    are never ranked against each other, and each board's title says what it shows.
    """
    if not task and not add_reference:
        raise click.UsageError("give --task avr|avc (or --add-reference)")
    db = db or default_db_path()
    if not add_reference and not db.is_file():  # showing reads the file; only --add-reference may create it
        raise click.BadParameter(f"{db}: no such leaderboard file (valor-bench submit or leaderboard "
                                 "--add-reference creates one)", param_hint="--db")
    try:
        conn = connect(db)
    except LeaderboardError as e:
        raise click.ClickException(str(e)) from None
    try:
        if add_reference:
            try:
                gt_sha = load_ground_truth("test").sha256
            except (GroundTruthError, FileNotFoundError):
                gt_sha = None
            added = add_reference_rows(conn, gt_sha)
            click.echo(f"{db}: added {added} reference row{'s' if added != 1 else ''} (VALOR paper, reported, "
                       f"not reproduced){'; already present' if not added else ''}", err=True)
        if task:
            rows = entries(conn, task, None if split == "all" else split)
            click.echo(render_leaderboard(task, None if split == "all" else split, rows, fmt, view))
    finally:
        conn.close()
