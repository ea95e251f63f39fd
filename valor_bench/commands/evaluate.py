"""``valor-bench evaluate``: score a valid submission (AVC caption metrics, AVR ranks)."""

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
    score,
    task_option,
)
from valor_bench.report import print_evaluation
from valor_bench.validate import SubmissionNotFound, validate_submission


def _dsl_scale(task: str, dsl: bool, scale: float) -> float | None:
    if dsl and task != "avr":
        raise click.UsageError("--dsl applies to --task avr only")
    return scale if dsl else None


@click.command()
@SUBMISSION
@task_option()
@gt_options
@available_option
@click.option("--json", "as_json", is_flag=True, help="Print the scores as one JSON object.")
@click.option("--per-sample", type=click.Path(dir_okay=False, path_type=Path),
              help="Write per-caption scores (AVC) / per-query ranks (AVR) with AudioSet labels to this parquet.")
@click.option("--dsl", is_flag=True, help="AVR: also report dual-softmax re-scored metrics (under metrics_dsl).")
@click.option("--dsl-scale", type=float, default=100.0, show_default=True, help="Logit scale of the DSL prior.")
@click.option("--spice/--no-spice", default=None, help="AVC: force SPICE on/off (default: on when its jars exist).")
def evaluate(submission: Path, task: str, split: str | None, annotations: Path | None, available: Path | None,
             as_json: bool, per_sample: Path | None, dsl: bool, dsl_scale: float, spice: bool | None) -> None:
    """Score SUBMISSION (AVC: BLEU/METEOR/ROUGE-L/CIDEr; AVR: R@1/5/10, MdR, MnR both ways)."""
    scale = _dsl_scale(task, dsl, dsl_scale)
    gt = load_gt(split, annotations, available)
    try:
        v = validate_submission(submission, task, gt, {})
    except SubmissionNotFound as e:
        raise click.BadParameter(str(e), param_hint="SUBMISSION") from None
    if not v.ok:
        fail_validation(v)
    ev = score(v, gt, scale, spice)
    if per_sample:
        from valor_bench.breakdown import write_parquet

        write_parquet(ev.per_sample, per_sample, {"task": ev.task, "split": ev.split, "coverage": ev.coverage.as_json()})
        click.echo(f"per-sample {'scores' if task == 'avc' else 'ranks'}: {per_sample} ({len(ev.per_sample):,} rows, "
                   f"{ev.coverage.describe()}; in its .attrs['coverage'])", err=True)
    if as_json:
        click.echo(json.dumps(ev.as_json(), indent=2, ensure_ascii=False))
    else:
        print_evaluation(ev, Console(highlight=False))
