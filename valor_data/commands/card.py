"""`valor-data card`: write the dataset card of a shard directory (Croissant, Hugging Face card, datasheet,
SHA256SUMS, availability list)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from valor_data.commands.options import json_option
from valor_data.release.card import write_card
from valor_data.release.card_files import CardError
from valor_data.release.card_options import CardOptions
from valor_data.release.terms import DEFAULT_LICENSE
from valor_data.resources import VALOR32K_SPLITS

__all__ = ["card"]  # the verb, loaded by name (valor_data.lazycli)


@click.command()
@click.argument("shard_dir", metavar="SHARDDIR", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--name", help="The dataset's name (default: the directory's name).")
@click.option("--description", help="One paragraph saying what the dataset is (default: its measured composition).")
@click.option("--license", "license_", default=DEFAULT_LICENSE, show_default=True,
              help="A Hugging Face licence id (e.g. cc-by-4.0); 'other' states the VALOR / AudioSet / YouTube terms.")
@click.option("--version", "version", default="1.0.0", show_default=True, help="The dataset's version.")
@click.option("--split", type=click.Choice(VALOR32K_SPLITS),
              help="The split of every clip here (default: each clip's official VALOR-32K split, if any).")
@click.option("--base-url", help="Where the files will be downloadable (e.g. "
              "https://huggingface.co/datasets/ORG/NAME/resolve/main); default: beside croissant.json.")
@click.option("--provenance", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The annotation campaign's provenance parquet; its row count and numeric means go into the card.")
@json_option()
def card(shard_dir: Path, name: str | None, description: str | None, license_: str, version: str,
         split: str | None, base_url: str | None, provenance: Path | None, as_json: bool) -> None:
    """Write the dataset card of SHARDDIR beside its tars: croissant.json (Croissant 1.1 with the
    Responsible-AI fields), README.md (Hugging Face card with a datasheet), SHA256SUMS, availability.txt and
    clips.parquet. Facts come from the directory and the fetch it was made from; the parts only a publisher
    can write are marked TO BE WRITTEN BY THE PUBLISHER."""
    if base_url is not None and not base_url.startswith(("https://", "http://")):
        raise click.UsageError(f"--base-url {base_url}: not an http(s) URL")
    options = CardOptions(name, description, license_.lower(), version, split, base_url, provenance)
    try:
        summary = write_card(shard_dir, options)
    except CardError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(f"card of {summary['samples']:,} clips in {summary['shards']} shards -> {shard_dir}: "
               + ", ".join(summary["files"]))
    if not summary["fetch_dir_found"]:
        click.echo("note: the fetch directory is gone: the card states no fetch dates, source or filters", err=True)
