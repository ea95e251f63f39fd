"""`valor-data acd`: audio concept density (VALOR paper, Sec. 3.4) of caption files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from valor_data.captions.acd import PRESETS, AcdCounts, matcher_for, matcher_from_file
from valor_data.captions.readers import CaptionReadError, read_captions
from valor_data.commands.options import json_option, progress_option
from valor_data.progress import progress_bar

__all__ = ["acd"]  # the verb, loaded by name (valor_data.lazycli)


def _presets_help() -> str:
    return "\n".join(f"{name}: {p.doc}" for name, p in PRESETS.items())


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="paper",
    show_default=True,
    help="Concept derivation + counting rule (see --list-presets).",
)
@click.option(
    "--field", help="JSON: the caption field (default: the first of desc, caption, sentences, ...)."
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    help="CSV/TSV: a caption column; repeat for several (Clotho: caption_1 ... caption_5).",
)
@click.option(
    "--no-header", is_flag=True, help="CSV/TSV without a header row: --column takes 0-based indexes."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    help="Force the input format (default: from the extension; unknown extensions are text).",
)
@click.option(
    "--per-caption",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one row per caption (file, index, id, caption, words, concepts, matched) to this parquet.",
)
@click.option(
    "--top", "top_k", type=click.IntRange(min=0), default=10, show_default=True,
    help="Most frequent concepts to list."
)
@click.option(
    "--concepts",
    "concepts_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your own audio concepts, one per line ('#' comments), instead of the AudioSet-derived set; "
    "normalised and counted by --preset's rules.",
)
@progress_option
@json_option("the figures for all files together")
@click.option("--list-presets", is_flag=True, help="Describe every preset and exit.")
def acd(
    files: tuple[Path, ...],
    preset: str,
    field: str | None,
    columns: tuple[str, ...],
    no_header: bool,
    fmt: str | None,
    per_caption: Path | None,
    top_k: int,
    concepts_file: Path | None,
    progress: bool,
    as_json: bool,
    list_presets: bool,
) -> None:
    """Audio concept density of the captions in FILES (all files together, and per file).

    ACD = 100 x audio concepts / words, concepts from the AudioSet ontology's class names, matched as
    whole words after lowercasing and stripping punctuation. FILES: plain text (one caption per line),
    JSON/JSONL (VALOR [{"video_id", "desc"}], desc a string or a list; any list/object of records with
    --field), CSV/TSV (--column).
    """
    if list_presets:
        click.echo(_presets_help())
        return
    if not files:
        raise click.UsageError("give at least one caption file (or --list-presets)")
    try:
        read = [
            read_captions(p, fmt=fmt, field=field, columns=columns or None, header=not no_header)
            for p in files
        ]
    except CaptionReadError as e:
        raise click.ClickException(str(e)) from None
    try:
        matcher = matcher_from_file(concepts_file, preset) if concepts_file else matcher_for(preset)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    total = sum(len(f.captions) for f in read)
    per_file = []
    with progress_bar(total=total, unit="caption", desc="acd", disable=not progress) as bar:
        for f in read:
            per_file.append(matcher.count(f.texts, keep_matches=per_caption is not None, progress=bar.update))
    counts = AcdCounts.concat(per_file)
    skipped = [{"where": w, "why": why} for f in read for w, why in f.skipped]

    if per_caption is not None:
        _write_per_caption(per_caption, read, per_file)
    if as_json:
        out = {
            **counts.summary(top_k),
            "preset": preset,
            "concepts_from": str(concepts_file) if concepts_file else "audioset-ontology",
            "concept_count": len(matcher.concepts),
            "skipped": len(skipped),
            "skipped_examples": skipped[:10],
        }
        out["files"] = [{"file": f.path, **c.summary(0)} for f, c in zip(read, per_file, strict=True)]
        for entry in out["files"]:
            entry.pop("top_concepts")
        click.echo(json.dumps(out, indent=1, ensure_ascii=False))
        return
    _print_table(read, per_file, counts, preset, top_k)
    if skipped:
        click.echo(
            f"acd: skipped {len(skipped)} empty or malformed record(s), e.g. {skipped[0]['where']}: "
            f"{skipped[0]['why']}",
            err=True,
        )
    if per_caption is not None:
        click.echo(f"per-caption rows: {per_caption}", err=True)


def _print_table(read, per_file, counts, preset: str, top_k: int) -> None:
    table = Table(title=f"ACD (preset {preset})", title_justify="left")
    table.add_column("file", overflow="fold")
    for name in ("captions", "words", "avg len", "concepts", "ACD %", "≥1 concept"):
        table.add_column(name, justify="right", no_wrap=True)
    rows = list(zip([_short(f.path) for f in read], per_file, strict=True))
    if len(rows) > 1:
        rows.append(("all files", counts))
    for name, c in rows:
        table.add_row(
            name,
            f"{c.n_captions:,}",
            f"{c.n_words:,}",
            f"{c.avg_len:.2f}",
            f"{c.n_concepts:,}",
            f"{c.acd:.2f}",
            f"{100 * c.with_concept:.1f}%",
        )
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    if top_k:
        top = ", ".join(f"{c} ({n:,})" for c, n in counts.top(top_k))
        click.echo(f"top concepts: {top or '-'}")


def _short(path: str) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def _write_per_caption(path: Path, read, per_file) -> None:
    rows = {k: [] for k in ("file", "index", "id", "caption", "words", "concepts", "matched")}
    for f, c in zip(read, per_file, strict=True):
        for cap, n_words, n_conc, matched in zip(
            f.captions, c.caption_words, c.caption_concepts, c.matches, strict=True
        ):
            rows["file"].append(f.path)
            rows["index"].append(cap.index)
            rows["id"].append(cap.id)
            rows["caption"].append(cap.text)
            rows["words"].append(int(n_words))
            rows["concepts"].append(int(n_conc))
            rows["matched"].append(matched)
    schema = pa.schema(
        [
            ("file", pa.string()),
            ("index", pa.int64()),
            ("id", pa.string()),
            ("caption", pa.string()),
            ("words", pa.int32()),
            ("concepts", pa.int32()),
            ("matched", pa.list_(pa.string())),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pq.write_table(pa.table(rows, schema=schema), path)
    except OSError as e:
        raise click.ClickException(f"{path}: cannot write the per-caption parquet ({e})") from None
