"""`valor-data stats`: label distribution, caption lengths and ACD per split, as figures and tables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from valor_data.captions.acd import PRESETS

_SPLIT_FILES = ("desc_{}.json", "{}_ids.txt")


def _files_in(split_dir: Path) -> list[Path]:
    """The split files of a folder written by `split`: desc_{split}.json, else {split}_ids.txt."""
    found = []
    for split in ("train", "val", "test"):
        for pattern in _SPLIT_FILES:
            path = split_dir / pattern.format(split)
            if path.is_file():
                found.append(path)
                break
    if not found:
        raise click.ClickException(f"{split_dir}: no desc_{{split}}.json or {{split}}_ids.txt files")
    return found


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--split-dir",
    type=click.Path(file_okay=False, path_type=Path),
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
@click.option("--top", type=int, default=30, show_default=True, help="Labels in the figure.")
@click.option(
    "--preset", type=click.Choice(list(PRESETS)), default="paper", show_default=True, help="ACD preset."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
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
    import numpy as np

    from valor_data.captions.acd import matcher_for
    from valor_data.resources import VALOR32K_SPLITS, audioset_segments_paths, valor32k_annotation_path
    from valor_data.splits.audit import load_splits, segment_index
    from valor_data.splits.stats import (
        caption_lengths,
        label_table,
        plot_caption_lengths,
        plot_label_distribution,
        write_label_tables,
    )

    if files and split_dir:
        raise click.UsageError("give split FILES or --split-dir, not both")
    if top < 1:
        raise click.UsageError(f"--top must be >= 1, got {top}")
    for f in files:
        if not f.is_file():
            raise click.ClickException(f"{f}: no such file")
    if split_dir is not None:
        files = tuple(_files_in(split_dir))
    files = files or tuple(valor32k_annotation_path(s) for s in VALOR32K_SPLITS)
    try:
        loaded = load_splits(files, segment_index(segment_files or audioset_segments_paths()))
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    splits = loaded.splits
    names = list(splits)
    out.mkdir(parents=True, exist_ok=True)

    rows = label_table(splits)
    written = write_label_tables(rows, names, out)
    written.append(plot_label_distribution(rows, names, out / "label_distribution.png", top))
    lengths = caption_lengths(splits, PRESETS[preset].concepts.punct)
    per_split = {}
    matcher = matcher_for(preset)
    for name, clips in splits.items():
        caps = [cap for c in clips for cap in c.captions]
        acd = matcher.count(caps).summary(5) if caps else None
        per_split[name] = {
            "file": loaded.files[name],
            "clips": len(clips),
            "labelled": sum(1 for c in clips if c.labels),
            "labels": len({x for c in clips for x in c.labels}),
            "captions": len(caps),
            "acd": acd["acd"] if acd else None,
            "avg_len": acd["avg_len"] if acd else None,
            "with_concept": acd["with_concept"] if acd else None,
            "median_len": float(np.median(lengths[name])) if len(lengths[name]) else None,
        }
    if any(len(v) for v in lengths.values()):
        written.append(plot_caption_lengths(lengths, out / "caption_length.png"))
    summary = {
        "preset": preset,
        "splits": per_split,
        "top_labels": [
            {
                "mid": r.mid,
                "name": r.name,
                "clips": r.pool,
                "share_pct": {k: round(v, 3) for k, v in r.shares.items()},
            }
            for r in rows[:top]
        ],
        "written": [str(p) for p in written],
    }
    (out / "stats.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    summary["written"].append(str(out / "stats.json"))
    if as_json:
        click.echo(json.dumps(summary, indent=1, ensure_ascii=False))
        return
    click.echo(f"{'split':6s} {'clips':>7s} {'labels':>6s} {'captions':>8s} {'avg len':>7s} {'ACD %':>6s}")
    for name, s in per_split.items():
        acd = "-" if s["acd"] is None else f"{s['acd']:6.2f}"
        avg = "-" if s["avg_len"] is None else f"{s['avg_len']:7.2f}"
        click.echo(f"{name:6s} {s['clips']:7,d} {s['labels']:6d} {s['captions']:8,d} {avg:>7s} {acd:>6s}")
    click.echo(
        "top labels: "
        + ", ".join(f"{r.name} ({'/'.join(f'{r.shares[n]:.1f}' for n in names)}%)" for r in rows[:5])
    )
    for p in summary["written"]:
        click.echo(f"wrote {p}")
