"""`valor-data verify`: check a shard directory written by `valor-data shard`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
from valor_data.engines.storage import is_url
from valor_data.progress import progress_bar
from valor_data.release.card_check import check_card, has_card
from valor_data.shards.verify import verify_dir

__all__ = ["verify"]  # the verb, loaded by name (valor_data.lazycli)


@click.command()
@click.argument("shard_dir", metavar="SHARDDIR", type=click.Path(file_okay=False))
@workers_option(2, "Tars checked in parallel.")
@distributor_option("What runs the per-tar checks.")
@spark_master_option
@progress_option
@json_option("{ok, problems, summary}")
def verify(shard_dir: str, workers: int, distributor: str, spark_master: str | None, progress: bool,
           as_json: bool) -> None:
    """Check SHARDDIR: every tar complete and readable, four members per sample, media sha256 against
    each sample's json, one video frame and one audio track decoded per shard, index.parquet against
    the tars, manifest.parquet / stats.json against the shards, and the dataset card (`valor-data card`),
    when there is one, against them: SHA256SUMS, croissant.json's files and hashes, clips.parquet,
    availability.txt and the README's data_files.

    Exits 1 with one line per problem, 0 with a short summary when all is well.
    """
    if is_url(shard_dir):
        raise click.UsageError(f"SHARDDIR {shard_dir}: verify reads a local or mounted directory; mount the "
                               "bucket (s3fs, gcsfuse...) or copy the shards, then verify that path")
    if not Path(shard_dir).is_dir():
        raise click.UsageError(f"SHARDDIR {shard_dir}: no such directory")
    try:
        with running_distributor(distributor, workers, spark_master) as runner, \
                progress_bar(total=0, unit="shard", desc="verify", disable=not progress) as bar:
            report = verify_dir(shard_dir, runner, workers, progress=bar.update,
                                on_plan=lambda n: bar.reset(total=n))
    except DistributorUnavailable as e:
        raise click.ClickException(str(e)) from None
    except TaskFailed as e:
        raise click.ClickException(f"verify stopped: {e}") from None
    s = report.summary
    s["card"] = has_card(shard_dir)
    if s["card"]:
        report.problems.extend(check_card(shard_dir))
        s["problems"] = len(report.problems)
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "problems": report.problems, "summary": s}, indent=1))
    elif report.ok:
        click.echo(
            f"ok: {s['shards']} shards, {s['samples']} samples ({s['with_captions']} with captions), "
            f"{s['bytes'] / 1e6:.1f} MB, media decoded in {s['decoded_shards']} of {s['shards']} shards, "
            + ("dataset card matches" if s["card"] else "no dataset card (`valor-data card` writes one)")
        )
    else:
        for line in report.problems:
            click.echo(line)
        click.echo(f"verify: {len(report.problems)} problem(s) in {shard_dir}", err=True)
    if not report.ok:
        sys.exit(1)
