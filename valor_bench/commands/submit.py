"""``valor-bench submit``: validate, score and store a submission in the local leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from valor_bench.commands.common import (
    SUBMISSION,
    available_option,
    fail_validation,
    gt_options,
    load_gt,
    meta_options,
    score,
    task_option,
)
from valor_bench.ground_truth import (
    sha256_file,
)
from valor_bench.leaderboard import (
    DuplicateSubmission,
    LeaderboardError,
    add_submission,
    board_of,
    connect,
    default_db_path,
    entries,
    find_duplicate,
    group_boards,
)
from valor_bench.metrics import MAIN_METRIC, main_metric_label
from valor_bench.report import print_evaluation
from valor_bench.validate import validate_submission
from valor_data.commands.options import json_option, progress_option


@click.command()
@SUBMISSION
@task_option()
@gt_options
@available_option
@meta_options
@click.option("--name", help="Leaderboard entry name (default: the metadata's model_name).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file (default: $VALOR_LEADERBOARD or ~/.cache/valor/leaderboard.sqlite).")
@json_option("the stored entry's id and scores")
@click.option("--server", help="Upload to a challenge server (valor-bench serve) instead of the local leaderboard.")
@click.option("--token", envvar="VALOR_TOKEN", help="With --server: the team's API token (or $VALOR_TOKEN).")
@click.option("--phase", help="With --server: the challenge phase (default: the only one with this task).")
@click.option("--wait", is_flag=True, help="With --server: follow the submission until it is scored, print the result.")
@progress_option
def submit(submission: Path, task: str, split: str | None, annotations: Path | None, available: Path | None,
           model_name: str | None, modality: str | None, external_data: str | None, url: str | None,
           name: str | None, db: Path | None, as_json: bool, server: str | None, token: str | None,
           phase: str | None, wait: bool, progress: bool) -> None:
    """Validate, score and store SUBMISSION in the local leaderboard (a byte-identical file is refused), or
    upload it to a challenge server with --server."""
    if server:
        _submit_remote(submission, task, phase, server, token, available, wait,
                       {"model_name": model_name or name, "modality": modality, "external_data": external_data,
                        "url": url})
        return
    gt = load_gt(split, annotations, available)
    meta_in = {"model_name": model_name, "modality": modality, "external_data": external_data, "url": url}
    v = validate_submission(submission, task, gt, meta_in)
    if not v.ok:
        fail_validation(v)
    name = name or v.metadata.model_name
    if not name:
        raise click.UsageError("give --name (or --model-name / a sidecar model_name) for the leaderboard entry")
    db = db or default_db_path()
    sha = sha256_file(submission)
    try:
        conn = connect(db)
    except LeaderboardError as e:
        raise click.ClickException(str(e)) from None
    try:
        dup = find_duplicate(conn, task, gt.sha256, sha)
        if dup:  # checked before scoring: the answer is known, no need to wait for METEOR
            raise click.ClickException(
                f"{submission}: byte-identical to submission #{dup.id} {dup.name!r} of {dup.created_at} "
                f"(sha256 {sha[:12]}); not stored again"
            )
        ev = score(v, gt, None, None, progress)
        try:
            entry_id = add_submission(conn, task=task, split=gt.split, name=name, metadata=v.metadata.as_dict(),
                                      submission_file=str(submission), submission_sha256=sha, gt_sha256=gt.sha256,
                                      scores=ev.scores())
        except DuplicateSubmission as e:
            raise click.ClickException(str(e)) from None
        board = entries(conn, task, gt.split)
    finally:
        conn.close()
    shown, position = board_of(group_boards(board), entry_id)  # ranked only against comparable entries
    direction, metric = MAIN_METRIC[task]
    main = ev.metrics[direction][metric] if direction else ev.metrics[metric]
    if as_json:
        click.echo(json.dumps({"id": entry_id, "name": name, "db": str(db), "position": position,
                               "board_size": len(shown.entries), **ev.as_json()}, indent=2, ensure_ascii=False))
    else:
        print_evaluation(ev, Console(highlight=False))
        click.echo(f"stored #{entry_id} {name!r} in {db}: {main_metric_label(task)} {main:.2f}, "
                   f"position {position} of {len(shown.entries)} on {task.upper()} {gt.split}, {shown.coverage_label}")


def _submit_remote(submission: Path, task: str, phase: str | None, server: str, token: str | None,
                   available: Path | None, wait: bool, meta: dict) -> None:
    from valor_bench.remote import RemoteError, submit_remote  # optional extra: server (httpx)

    if available is not None:
        raise click.UsageError("--available is for local scoring; a challenge server scores against its own "
                               "ground truth")
    try:
        sub = submit_remote(submission, task, phase, server, token, meta, wait, click.echo)
    except RemoteError as e:
        raise click.ClickException(str(e)) from None
    if sub.get("status") == "failed":
        raise SystemExit(1)
