"""`valor-data split`: stratified train/val/test splits, or an audit of the official VALOR-32K split."""

from __future__ import annotations

import json
from pathlib import Path

import click

from valor_data.commands.common import warn_bad_rows
from valor_data.commands.options import json_option, progress_option
from valor_data.inputs import read_inputs
from valor_data.progress import progress_bar
from valor_data.splits.audit import audit_files
from valor_data.splits.make import SplitError, make_split

__all__ = ["split"]  # the verb, loaded by name (valor_data.lazycli)


def _numbers(text: str | None, kind: type, what: str) -> list | None:
    if text is None:
        return None
    try:
        values = [kind(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected 3 comma-separated numbers (train,val,test)", param_hint=what
        ) from None
    if len(values) != 3:
        raise click.BadParameter(
            f"{text!r}: expected 3 numbers (train,val,test), got {len(values)}", param_hint=what
        )
    return values


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--from-annotations",
    is_flag=True,
    help="FILES are existing split files (desc_{train,val,test}.json or {split}_ids.txt; default: the shipped "
    "VALOR-32K annotations): reproduce and audit that split instead of making one.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the id lists and reports."
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A fetch manifest.parquet: only clips with status ok are candidates.",
)
@click.option(
    "--captions",
    "caption_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="VALOR-format caption JSON(s): only captioned clips are candidates, and desc_{split}.json is written.",
)
@click.option("--sizes", help="Clips per split, train,val,test.  [default: 25000,3500,3500, VALOR-32K]")
@click.option("--fractions", help="Shares of the candidates per split instead, e.g. 0.9,0.05,0.05.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: same inputs + seed = same split.")
@click.option(
    "--segments",
    "segment_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="--from-annotations: AudioSet segment CSVs for the labels [default: the shipped balanced_train + eval].",
)
@progress_option
@json_option()
def split(
    files: tuple[Path, ...],
    from_annotations: bool,
    out: Path | None,
    manifest: Path | None,
    caption_files: tuple[Path, ...],
    sizes: str | None,
    fractions: str | None,
    seed: int,
    segment_files: tuple[Path, ...],
    progress: bool,
    as_json: bool,
) -> None:
    """Make train/val/test splits of the clips in FILES (AudioSet segment CSVs: balanced_train + eval for
    VALOR-32K, unbalanced_train for VALOR-1M), stratified by AudioSet label and grouped by YouTube id,
    and write {split}_ids.txt (+ desc_{split}.json with --captions) to --out.

    With --from-annotations, read an existing split instead, join each clip's AudioSet labels, write the
    id lists (and labels.csv) to --out when given, and report broken captions, duplicates, cross-split
    leakage and clips without labels.
    """
    if from_annotations:
        if manifest or caption_files or sizes or fractions:
            raise click.UsageError(
                "--from-annotations takes no --manifest, --captions, --sizes or --fractions"
            )
        _from_annotations(files, out, segment_files, as_json)
        return
    if not files:
        raise click.UsageError("give the AudioSet segment CSV(s) to split, or --from-annotations")
    if out is None:
        raise click.UsageError("--out is required (the folder for {split}_ids.txt)")
    if sizes and fractions:
        raise click.UsageError("give --sizes or --fractions, not both")
    _make_split(files, out, manifest, caption_files, sizes, fractions, seed, progress, as_json)


def _make_split(files, out, manifest, caption_files, sizes, fractions, seed, progress, as_json) -> None:
    try:
        inputs = read_inputs(files)
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    warn_bad_rows(inputs.bad_rows)
    try:
        with progress_bar(total=len(inputs.clips), unit="clip", desc="split", disable=not progress) as bar:
            summary = make_split(files, out, manifest=manifest, caption_files=caption_files, seed=seed,
                                 sizes=_numbers(sizes, int, "--sizes"),
                                 fractions=_numbers(fractions, float, "--fractions"),
                                 progress=bar.update, inputs=inputs)
    except SplitError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    _print_split_summary(summary)


def _print_split_summary(s: dict) -> None:
    click.echo(
        f"{s['candidates']:,} candidate clips ({s['bad_rows']} bad rows, {s['duplicate_rows']} duplicates"
        + "".join(f", {n:,} {k}" for k, n in s["excluded"].items())
        + f"), seed {s['seed']}; {s['unused']:,} left unused"
    )
    click.echo(f"{'split':6s} {'clips':>8s} {'ytids':>8s}  label-share distance to the pool")
    for name, n in s["sizes"].items():
        d = s["label_distance"][name]
        dist = (
            "-"
            if d["max_abs_diff_pp"] is None
            else (f"max {d['max_abs_diff_pp']:.3f} pp ({d['label']}), mean {d['mean_abs_diff_pp']:.4f} pp")
        )
        click.echo(f"{name:6s} {n:8,d} {s['ytids'][name]:8,d}  {dist}")
    click.echo(f"wrote {', '.join(s['written'])} and split_report.json")


def _from_annotations(files, out, segment_files, as_json) -> None:
    try:
        report = audit_files(files, out, segment_files)
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
        return
    _print_audit(report)


def _print_audit(r: dict) -> None:
    click.echo(f"{'split':6s} {'clips':>7s} {'ytids':>7s} {'labelled':>8s}  AudioSet source")
    for name, s in r["splits"].items():
        src = ", ".join(f"{k} {v:,}" for k, v in s["audioset_source"].items())
        click.echo(f"{name:6s} {s['clips']:7,d} {s['ytids']:7,d} {s['labelled']:8,d}  {src}")
    click.echo(f"total  {r['total_clips']:7,d}")
    b = r["broken_captions"]
    click.echo(f"broken captions: {len(b)}")
    for x in b:
        click.echo(f"  {x['split']:5s} {x['clip_id']}  {x['caption']!r}: {x['reason']}")
    d = r["duplicates"]
    within = sum(len(v) for v in d["clip_ids_within_split"].values())
    click.echo(
        f"duplicates: {within} clip ids repeated within a split, {len(d['clip_ids_across_splits'])} across "
        f"splits; {d['identical_captions']} captions repeat another clip's text"
    )
    lk = r["leakage"]
    other = ", ".join(f"{k} {v:,}" for k, v in lk["audioset_train_clips_in_other_splits"].items())
    click.echo(
        f"leakage: {lk['ytids_in_several_splits']} YouTube ids in several splits; "
        f"{lk['audioset_eval_clips_in_train']:,} AudioSet-eval clips in train; AudioSet-train clips in {other}"
    )
    click.echo(f"clips without AudioSet labels: {r['unlabelled']['count']}")
    worst = ", ".join(
        f"{k} {v['max_abs_diff_pp']:.2f} pp"
        for k, v in r["label_distance"].items()
        if v["max_abs_diff_pp"] is not None
    )
    click.echo(f"label-share distance to all splits together (max): {worst}")
    if r["bad_rows"]:
        click.echo(
            f"bad rows: {len(r['bad_rows'])}, e.g. {r['bad_rows'][0]['where']}: {r['bad_rows'][0]['message']}"
        )
    for p in r.get("written", []):
        click.echo(f"wrote {p}")
