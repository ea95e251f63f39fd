"""Options and steps the ``valor-bench`` verbs share: load the ground truth, validate, score with progress.

Bad input ends in one line per problem and a non-zero exit, never a traceback: the validator runs
before anything is scored.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console

from valor_bench.avc import CaptionMetricError
from valor_bench.coverage import Availability, AvailabilityError
from valor_bench.evaluate import Evaluation, evaluate_validated
from valor_bench.formats import MODALITIES
from valor_bench.ground_truth import (
    SHIPPED_SPLITS,
    GroundTruth,
    GroundTruthError,
    load_ground_truth,
)
from valor_bench.metrics import TASKS
from valor_bench.validate import Validation
from valor_data.progress import progress_bar

SUBMISSION = click.argument("submission", type=click.Path(dir_okay=False, exists=True, path_type=Path))


def task_option(required: bool = True):
    return click.option("--task", type=click.Choice(TASKS), required=required,
                        help="avr: text-to-audiovisual retrieval; avc: audiovisual captioning.")


def gt_options(f):
    f = click.option("--annotations", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help='Ground truth from a VALOR-format [{"video_id","desc"}] JSON/JSONL file.')(f)
    return click.option("--split", type=click.Choice(SHIPPED_SPLITS),
                        help="A VALOR-32K split the toolkit ships (default: test).")(f)


def available_option(f):
    return click.option(
        "--available", type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="Score only the clips you have: a list of clip ids (one a line, e.g. from `valor-bench availability`), "
             "a fetch manifest.parquet (its ok clips) or a shard index.parquet. The result is labelled partial "
             "with its coverage.")(f)


def meta_options(f):
    f = click.option("--url", help="Paper or code URL (overrides the sidecar's 'url').")(f)
    f = click.option("--external-data", help="Data used beyond the benchmark's train split, e.g. 'VALOR-1M'.")(f)
    f = click.option("--modality", type=click.Choice(MODALITIES), help="Inputs the model used: audio+video, video, audio.")(f)
    return click.option("--model-name", help="Model name (overrides the sidecar's 'model_name').")(f)


def load_gt(split: str | None, annotations: Path | None,
            available: Path | Availability | None = None) -> GroundTruth:
    """The ground truth, restricted to ``--available``; a bad availability file prints one line per problem."""
    try:
        return load_ground_truth(split, annotations, available=available)
    except AvailabilityError as e:
        for line in e.problems[:-1]:
            click.echo(f"Error: {line}", err=True)
        raise click.ClickException(e.problems[-1]) from None
    except (GroundTruthError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None


def fail_validation(v: Validation) -> None:
    for p in v.problems:
        click.echo(f"{v.path}: {p}", err=True)
    raise click.ClickException(
        f"{v.path} is not a valid {v.task.upper()} submission ({len(v.problems)} problem"
        f"{'s' if len(v.problems) != 1 else ''}); nothing was scored"
    )


def score(v: Validation, gt: GroundTruth, dsl_scale: float | None, spice: bool | None,
          progress: bool = True) -> Evaluation:
    """Score a valid submission; ``progress``: a spinner (AVC) or a bar (AVR) on stderr meanwhile."""
    err = Console(stderr=True)
    started = time.perf_counter()
    try:
        if v.task == "avc" and progress:
            with err.status("scoring captions") as status:
                ev = evaluate_validated(v, gt, spice=spice, stage=lambda msg: status.update(msg))
        elif v.task == "avc":
            ev = evaluate_validated(v, gt, spice=spice)
        else:
            rows = v.submission.sim.n_rows if hasattr(v.submission, "sim") else 0
            with progress_bar(total=2 * rows, unit="row", desc="ranking (2 passes)", leave=False,
                              disable=not progress) as bar:
                ev = evaluate_validated(v, gt, dsl_scale=dsl_scale, progress=bar.update)
    except (CaptionMetricError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"scored {v.path.name} against {gt.describe()} in {time.perf_counter() - started:.1f} s", err=True)
    return ev
