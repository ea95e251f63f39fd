"""``valor-bench validate``: every problem of a submission on one line, exit 1 if any."""

from __future__ import annotations

import json
from pathlib import Path

import click

from valor_bench.commands.common import (
    SUBMISSION,
    available_option,
    gt_options,
    load_gt,
    meta_options,
    task_option,
)
from valor_bench.validate import SubmissionNotFound, validate_submission


@click.command()
@SUBMISSION
@task_option()
@gt_options
@available_option
@meta_options
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_context
def validate(ctx: click.Context, submission: Path, task: str, split: str | None, annotations: Path | None,
             available: Path | None, model_name: str | None, modality: str | None, external_data: str | None,
             url: str | None, as_json: bool) -> None:
    """Check SUBMISSION against the ground truth: every problem on one line, exit 1 if any."""
    gt = load_gt(split, annotations, available)
    meta = {"model_name": model_name, "modality": modality, "external_data": external_data, "url": url}
    try:
        v = validate_submission(submission, task, gt, meta)
    except SubmissionNotFound as e:
        raise click.BadParameter(str(e), param_hint="SUBMISSION") from None
    if as_json:
        click.echo(json.dumps(v.as_json(gt), indent=2, ensure_ascii=False))
    elif v.ok:
        click.echo(f"{submission}: valid {task.upper()} submission for {gt.describe()}")
        if gt.available_from:
            click.echo(f"coverage: {gt.coverage.describe()} ({gt.available_from})")
        for note in [*gt.notes, *v.notes]:
            click.echo(f"note: {note}")
    else:
        for p in v.problems:
            click.echo(f"{submission}: {p}")
        click.echo(f"{len(v.problems)} problem{'s' if len(v.problems) != 1 else ''}: not a valid "
                   f"{task.upper()} submission", err=True)
    if not v.ok:
        ctx.exit(1)
