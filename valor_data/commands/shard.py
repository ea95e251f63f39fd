"""`valor-data shard`: pack a fetch output directory into WebDataset tar shards."""

from __future__ import annotations

import json
import sys

import click

from valor_data.commands.common import running_distributor
from valor_data.commands.options import (
    distributor_option,
    json_option,
    progress_option,
    spark_master_option,
    workers_option,
)
from valor_data.engines.distributor import DistributorUnavailable, TaskFailed
from valor_data.engines.storage import StorageError, is_url
from valor_data.progress import progress_bar
from valor_data.release.card_files import CardError
from valor_data.shards.layout import ShardError
from valor_data.shards.plan import DEFAULT_SHARD_SIZE, ShardOptions
from valor_data.shards.run import run_shard

__all__ = ["shard"]  # the verb, loaded by name (valor_data.lazycli)


@click.command()
@click.argument("src_dir", metavar="DIR", type=click.Path(file_okay=False, exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Shard directory: a local path or an fsspec URL (s3://, gs://, hdfs://...).")
@click.option(
    "--captions",
    "caption_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="VALOR annotation JSON ([{video_id, desc}]); its captions replace the manifest's. Repeatable.",
)
@click.option(
    "--ids",
    "id_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Only the clips listed in this file (clip ids or keys, one per line, e.g. a split's "
    "train_ids.txt). Repeatable.",
)
@click.option("--shard-size", type=click.IntRange(min=1), default=None,
              help=f"Samples per shard (default {DEFAULT_SHARD_SIZE}).")
@click.option("--shard-bytes", type=click.IntRange(min=1), default=None, help="Or: target tar size in bytes.")
@click.option("--prefix", default="valor", show_default=True, help="Shards are named {prefix}-000000.tar.")
@workers_option(2, "Shards written in parallel.")
@distributor_option("What runs the shard tasks.")
@spark_master_option
@progress_option
@json_option()
def shard(
    src_dir: str,
    out_dir: str,
    caption_files: tuple[str, ...],
    id_files: tuple[str, ...],
    shard_size: int | None,
    shard_bytes: int | None,
    prefix: str,
    workers: int,
    distributor: str,
    spark_master: str | None,
    progress: bool,
    as_json: bool,
) -> None:
    """Write the ok clips of the fetch directory DIR as WebDataset shards in --out.

    Each sample has {key}.mp4, {key}.flac, {key}.json (ids, labels with names, captions, probe facts,
    sha256 of the media) and {key}.txt (the first caption, empty when the clip has none). Also writes
    index.parquet, stats.json, manifest.parquet (the fetch manifest with its shard column filled) and the
    dataset card of `valor-data card` (with the release extra). Killed runs resume: run the same command again.
    """
    if shard_size is not None and shard_bytes is not None:
        raise click.UsageError("give either --shard-size or --shard-bytes, not both")
    if shard_size is None and shard_bytes is None:
        shard_size = DEFAULT_SHARD_SIZE
    try:
        options = ShardOptions(prefix=prefix, shard_size=shard_size, shard_bytes=shard_bytes)
    except ShardError as e:  # a bad --prefix
        raise click.UsageError(str(e)) from None
    try:
        with running_distributor(distributor, workers, spark_master) as runner, \
                progress_bar(total=0, unit="shard", desc="shard", disable=not progress) as bar:
            summary = run_shard(src_dir, out_dir, options, caption_files, runner, workers, progress=bar.update,
                                on_plan=lambda n: bar.reset(total=n), id_files=id_files)
    except (ShardError, StorageError, DistributorUnavailable) as e:
        raise click.ClickException(str(e)) from None
    except (TaskFailed, OSError) as e:
        raise click.ClickException(f"shard stopped: {e}. Written shards are kept; rerun the same command.") from None
    if not summary["shards_failed"]:
        summary["card"], summary["card_skipped"] = _write_card(out_dir)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
    else:
        _print_summary(summary)
    if summary["shards_failed"]:
        sys.exit(1)


def _write_card(out_dir: str) -> tuple[list[str], str | None]:
    """The dataset card beside the shards (`valor-data card`): the files written, or why none were."""
    if is_url(out_dir):
        return [], "the card is written on a local directory: copy or mount the shards, run `valor-data card`"
    try:
        # optional extra: release (datasets, huggingface_hub write the Hugging Face card)
        from valor_data.release.card import write_card
    except ImportError as e:
        return [], f"{e.name} is not installed: pip install 'valor[release]', then run `valor-data card {out_dir}`"
    try:
        return write_card(out_dir)["files"], None
    except (CardError, OSError) as e:
        return [], f"{e}; run `valor-data card {out_dir}` once it is fixed"


def _print_summary(s: dict) -> None:
    echo = click.echo
    for line in s["caption_bad_rows"][:10]:
        echo(f"warning: --captions row skipped: {line}", err=True)
    if len(s["caption_bad_rows"]) > 10:
        echo(f"warning: ... and {len(s['caption_bad_rows']) - 10} more bad --captions rows", err=True)
    if s.get("ids_unmatched"):
        echo(f"warning: {s['ids_unmatched']} clips listed in --ids are not in the fetch manifest", err=True)
    for line in s["missing_media"]:
        echo(f"warning: not sharded: {line}", err=True)
    if s["shards_failed"]:
        for line in s["shards_failed"]:
            echo(f"error: {line}", err=True)
        echo(
            f"{len(s['shards_failed'])} of {s['shards']} shards failed; the others are in place. "
            "Run the same command again to retry them.",
            err=True,
        )
        return
    echo(
        f"{s['samples']} samples in {s['shards']} shards ({s['shards_written']} written, "
        f"{s['shards_skipped']} already done) -> {s['out']}"
    )
    echo(
        f"  captions: {s['with_captions']} with, {s['without_captions']} without"
        + (f"; {s['captions_unmatched']} --captions entries match no ok clip" if s["captions_unmatched"] else "")
    )
    echo(f"  {s['tar_bytes'] / 1e6:.1f} MB, {s['duration_s_total'] / 3600:.2f} h of media, {s['seconds']:.1f} s")
    echo("  manifest: " + ", ".join(f"{k} {v}" for k, v in s["status"].items()))
    if s["card"]:
        echo("  card: " + ", ".join(s["card"]))
    else:
        echo(f"warning: no dataset card: {s['card_skipped']}", err=True)
