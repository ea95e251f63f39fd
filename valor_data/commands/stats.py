"""`valor-data stats`: label distribution, caption lengths and ACD per split, as figures and tables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from valor_data.captions.acd import PRESETS
from valor_data.commands.options import json_option
from valor_data.splits.audit import split_files_in
from valor_data.splits.stats import split_stats

__all__ = ["stats"]  # the verb, loaded by name (valor_data.lazycli)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--split-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A folder written by `valor-data split` (desc_{split}.json or {split}_ids.txt).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option(
    "--segments",
    "segment_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="AudioSet segment CSVs for the labels [default: the shipped balanced_train + eval].",
)
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True, help="Labels in the figure.")
@click.option(
    "--preset", type=click.Choice(list(PRESETS)), default="paper", show_default=True, help="ACD preset."
)
@json_option()
def stats(
    files: tuple[Path, ...],
    split_dir: Path | None,
    out: Path,
    segment_files: tuple[Path, ...],
    top: int,
    preset: str,
    as_json: bool,
) -> None:
    """Statistics per split of FILES (desc_{split}.json / {split}_ids.txt; default: the shipped VALOR-32K
    annotations) or of --split-dir: the AudioSet label distribution (label_distribution.png, like the
    paper's Fig. 4, + .csv/.md tables), the caption length histogram (caption_length.png) and ACD per
    split; everything also in stats.json.
    """
    if files and split_dir:
        raise click.UsageError("give split FILES or --split-dir, not both")
    try:
        if split_dir is not None:
            files = tuple(split_files_in(split_dir))
        summary = split_stats(files, out, segment_files, top, preset)
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    per_split = summary["splits"]
    if as_json:
        click.echo(json.dumps(summary, indent=1, ensure_ascii=False))
        return
    click.echo(f"{'split':6s} {'clips':>7s} {'labels':>6s} {'captions':>8s} {'avg len':>7s} {'ACD %':>6s}")
    for name, s in per_split.items():
        acd = "-" if s["acd"] is None else f"{s['acd']:6.2f}"
        avg = "-" if s["avg_len"] is None else f"{s['avg_len']:7.2f}"
        click.echo(f"{name:6s} {s['clips']:7,d} {s['labels']:6d} {s['captions']:8,d} {avg:>7s} {acd:>6s}")
    shares = ", ".join(f"{r['name']} ({'/'.join(f'{v:.1f}' for v in r['share_pct'].values())}%)"
                       for r in summary["top_labels"][:5])
    click.echo(f"top labels: {shares}")
    for p in summary["written"]:
        click.echo(f"wrote {p}")
