"""The ``valor-bench`` sub-commands: validate, evaluate, submit, leaderboard.

Bad input ends in one line per problem and a non-zero exit, never a traceback: the validator runs
before anything is scored.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from tqdm import tqdm

from valor_bench.avc import CaptionMetricError
from valor_bench.evaluate import Evaluation, evaluate_validated
from valor_bench.formats import MODALITIES
from valor_bench.ground_truth import (
    SHIPPED_SPLITS,
    GroundTruth,
    GroundTruthError,
    load_ground_truth,
    sha256_file,
)
from valor_bench.leaderboard import (
    DuplicateSubmission,
    add_reference_rows,
    add_submission,
    connect,
    default_db_path,
    entries,
    find_duplicate,
)
from valor_bench.metrics import MAIN_METRIC, TASKS, main_metric_label
from valor_bench.report import LEADERBOARD_FORMATS, print_evaluation, render_leaderboard
from valor_bench.validate import Validation, validate_submission

SUBMISSION = click.argument("submission", type=click.Path(path_type=Path))


def task_option(required: bool = True):
    return click.option("--task", type=click.Choice(TASKS), required=required,
                        help="avr: text-to-audiovisual retrieval; avc: audiovisual captioning.")


def gt_options(f):
    f = click.option("--annotations", type=click.Path(dir_okay=False, path_type=Path),
                     help='Ground truth from a VALOR-format [{"video_id","desc"}] JSON/JSONL file.')(f)
    return click.option("--split", type=click.Choice(SHIPPED_SPLITS),
                        help="A VALOR-32K split the toolkit ships (default: test).")(f)


def meta_options(f):
    f = click.option("--url", help="Paper or code URL (overrides the sidecar's 'url').")(f)
    f = click.option("--external-data", help="Data used beyond the benchmark's train split, e.g. 'VALOR-1M'.")(f)
    f = click.option("--modality", type=click.Choice(MODALITIES), help="Inputs the model used: audio+video, video, audio.")(f)
    return click.option("--model-name", help="Model name (overrides the sidecar's 'model_name').")(f)


def _load_gt(split: str | None, annotations: Path | None) -> GroundTruth:
    try:
        return load_ground_truth(split, annotations)
    except (GroundTruthError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None


def _validate(submission: Path, task: str, gt: GroundTruth, meta: dict) -> Validation:
    return validate_submission(submission, task, gt, meta)


def _fail_validation(v: Validation) -> None:
    for p in v.problems:
        click.echo(f"{v.path}: {p}", err=True)
    raise click.ClickException(
        f"{v.path} is not a valid {v.task.upper()} submission ({len(v.problems)} problem"
        f"{'s' if len(v.problems) != 1 else ''}); nothing was scored"
    )


def _evaluate(v: Validation, gt: GroundTruth, dsl_scale: float | None, spice: bool | None) -> Evaluation:
    err = Console(stderr=True)
    started = time.perf_counter()
    try:
        if v.task == "avc":
            with err.status("scoring captions") as status:
                ev = evaluate_validated(v, gt, spice=spice, stage=lambda msg: status.update(msg))
        else:
            rows = v.submission.sim.n_rows if hasattr(v.submission, "sim") else 0
            with tqdm(total=2 * rows, unit="row", desc="ranking (2 passes)", file=sys.stderr, disable=None,
                      leave=False) as bar:
                ev = evaluate_validated(v, gt, dsl_scale=dsl_scale, progress=bar.update)
    except (CaptionMetricError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"scored {v.path.name} against {gt.describe()} in {time.perf_counter() - started:.1f} s", err=True)
    return ev


@click.command()
@SUBMISSION
@task_option()
@gt_options
@meta_options
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_context
def validate(ctx: click.Context, submission: Path, task: str, split: str | None, annotations: Path | None,
             model_name: str | None, modality: str | None, external_data: str | None, url: str | None,
             as_json: bool) -> None:
    """Check SUBMISSION against the ground truth: every problem on one line, exit 1 if any."""
    gt = _load_gt(split, annotations)
    meta = {"model_name": model_name, "modality": modality, "external_data": external_data, "url": url}
    v = _validate(submission, task, gt, meta)
    if as_json:
        click.echo(json.dumps(v.as_json(gt), indent=2, ensure_ascii=False))
    elif v.ok:
        click.echo(f"{submission}: valid {task.upper()} submission for {gt.describe()}")
        for note in v.notes:
            click.echo(f"note: {note}")
    else:
        for p in v.problems:
            click.echo(f"{submission}: {p}")
        click.echo(f"{len(v.problems)} problem{'s' if len(v.problems) != 1 else ''}: not a valid "
                   f"{task.upper()} submission", err=True)
    if not v.ok:
        ctx.exit(1)


def _dsl_scale(task: str, dsl: bool, scale: float) -> float | None:
    if dsl and task != "avr":
        raise click.UsageError("--dsl applies to --task avr only")
    return scale if dsl else None


@click.command()
@SUBMISSION
@task_option()
@gt_options
@click.option("--json", "as_json", is_flag=True, help="Print the scores as one JSON object.")
@click.option("--per-sample", type=click.Path(dir_okay=False, path_type=Path),
              help="Write per-caption scores (AVC) / per-query ranks (AVR) with AudioSet labels to this parquet.")
@click.option("--dsl", is_flag=True, help="AVR: also report dual-softmax re-scored metrics (under metrics_dsl).")
@click.option("--dsl-scale", type=float, default=100.0, show_default=True, help="Logit scale of the DSL prior.")
@click.option("--spice/--no-spice", default=None, help="AVC: force SPICE on/off (default: on when its jars exist).")
def evaluate(submission: Path, task: str, split: str | None, annotations: Path | None, as_json: bool,
             per_sample: Path | None, dsl: bool, dsl_scale: float, spice: bool | None) -> None:
    """Score SUBMISSION (AVC: BLEU/METEOR/ROUGE-L/CIDEr; AVR: R@1/5/10, MdR, MnR both ways)."""
    scale = _dsl_scale(task, dsl, dsl_scale)
    gt = _load_gt(split, annotations)
    v = _validate(submission, task, gt, {})
    if not v.ok:
        _fail_validation(v)
    ev = _evaluate(v, gt, scale, spice)
    if per_sample:
        from valor_bench.breakdown import write_parquet

        write_parquet(ev.per_sample, per_sample)
        click.echo(f"per-sample {'scores' if task == 'avc' else 'ranks'}: {per_sample} ({len(ev.per_sample):,} rows)",
                   err=True)
    if as_json:
        click.echo(json.dumps(ev.as_json(), indent=2, ensure_ascii=False))
    else:
        print_evaluation(ev, Console(highlight=False))


@click.command()
@SUBMISSION
@task_option()
@gt_options
@meta_options
@click.option("--name", help="Leaderboard entry name (default: the metadata's model_name).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file (default: $VALOR_LEADERBOARD or ~/.cache/valor/leaderboard.sqlite).")
@click.option("--json", "as_json", is_flag=True, help="Print the stored entry's id and scores as JSON.")
def submit(submission: Path, task: str, split: str | None, annotations: Path | None, model_name: str | None,
           modality: str | None, external_data: str | None, url: str | None, name: str | None, db: Path | None,
           as_json: bool) -> None:
    """Validate, score and store SUBMISSION in the local leaderboard (a byte-identical file is refused)."""
    gt = _load_gt(split, annotations)
    meta_in = {"model_name": model_name, "modality": modality, "external_data": external_data, "url": url}
    v = _validate(submission, task, gt, meta_in)
    if not v.ok:
        _fail_validation(v)
    name = name or v.metadata.model_name
    if not name:
        raise click.UsageError("give --name (or --model-name / a sidecar model_name) for the leaderboard entry")
    db = db or default_db_path()
    sha = sha256_file(submission)
    conn = connect(db)
    try:
        dup = find_duplicate(conn, task, gt.sha256, sha)
        if dup:  # checked before scoring: the answer is known, no need to wait for METEOR
            raise click.ClickException(
                f"{submission}: byte-identical to submission #{dup.id} {dup.name!r} of {dup.created_at} "
                f"(sha256 {sha[:12]}); not stored again"
            )
        ev = _evaluate(v, gt, None, None)
        try:
            entry_id = add_submission(conn, task=task, split=gt.split, name=name, metadata=v.metadata.as_dict(),
                                      submission_file=str(submission), submission_sha256=sha, gt_sha256=gt.sha256,
                                      scores=ev.scores())
        except DuplicateSubmission as e:
            raise click.ClickException(str(e)) from None
        board = entries(conn, task, gt.split)
    finally:
        conn.close()
    position = next(i for i, e in enumerate(board, 1) if e.id == entry_id)
    direction, metric = MAIN_METRIC[task]
    main = ev.metrics[direction][metric] if direction else ev.metrics[metric]
    if as_json:
        click.echo(json.dumps({"id": entry_id, "name": name, "db": str(db), "position": position,
                               **ev.as_json()}, indent=2, ensure_ascii=False))
    else:
        print_evaluation(ev, Console(highlight=False))
        click.echo(f"stored #{entry_id} {name!r} in {db}: {main_metric_label(task)} {main:.2f}, "
                   f"position {position} of {len(board)} on {task.upper()} {gt.split}")


@click.command()
@task_option(required=False)
@click.option("--split", default="test", show_default=True,
              help="Split label to show ('test', 'val', 'file:NAME' for --annotations runs, 'all').")
@click.option("--format", "fmt", type=click.Choice(LEADERBOARD_FORMATS), default="table", show_default=True)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file (default: $VALOR_LEADERBOARD or ~/.cache/valor/leaderboard.sqlite).")
@click.option("--add-reference", is_flag=True,
              help="Enter the VALOR paper's VALOR-B / VALOR-L test results, marked 'reported, not reproduced'.")
def leaderboard(task: str | None, split: str, fmt: str, db: Path | None, add_reference: bool) -> None:
    """Show the local leaderboard, ranked by the task's main metric (AVR: t2v R@1, AVC: CIDEr)."""
    if not task and not add_reference:
        raise click.UsageError("give --task avr|avc (or --add-reference)")
    db = db or default_db_path()
    conn = connect(db)
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
            click.echo(render_leaderboard(task, None if split == "all" else split, rows, fmt))
    finally:
        conn.close()
