"""`valor-data verify`: check a shard directory written by `valor-data shard`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from valor_data.commands.common import running_distributor, spark_master_option
from valor_data.engines.distributor import DISTRIBUTORS, DistributorUnavailable, TaskFailed
from valor_data.progress import progress_bar


@click.command()
@click.argument("shard_dir", metavar="SHARDDIR", type=click.Path(file_okay=False))
@click.option("--workers", type=int, default=2, show_default=True, help="Tars checked in parallel.")
@click.option(
    "--distributor",
    type=click.Choice(sorted(DISTRIBUTORS)),
    default="multiprocessing",
    show_default=True,
    help="What runs the per-tar checks.",
)
@spark_master_option
@click.option("--json", "as_json", is_flag=True, help="Print {ok, problems, summary} as JSON on stdout.")
def verify(shard_dir: str, workers: int, distributor: str, spark_master: str | None, as_json: bool) -> None:
    """Check SHARDDIR: every tar complete and readable, four members per sample, media sha256 against
    each sample's json, one video frame and one audio track decoded per shard, index.parquet against
    the tars, and manifest.parquet / stats.json against the shards.

    Exits 1 with one line per problem, 0 with a short summary when all is well.
    """
    from valor_data.engines.storage import is_url
    from valor_data.shards.verify import verify_dir

    if is_url(shard_dir):
        raise click.UsageError(f"SHARDDIR {shard_dir}: verify reads a local or mounted directory; mount the "
                               "bucket (s3fs, gcsfuse...) or copy the shards, then verify that path")
    if not Path(shard_dir).is_dir():
        raise click.UsageError(f"SHARDDIR {shard_dir}: no such directory")
    if workers < 1:
        raise click.UsageError(f"--workers must be >= 1, got {workers}")
    try:
        with running_distributor(distributor, workers, spark_master) as runner, \
                progress_bar(total=0, unit="shard", desc="verify") as bar:
            report = verify_dir(shard_dir, runner, workers, progress=bar.update,
                                on_plan=lambda n: bar.reset(total=n))
    except DistributorUnavailable as e:
        raise click.ClickException(str(e)) from None
    except TaskFailed as e:
        raise click.ClickException(f"verify stopped: {e}") from None
    s = report.summary
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "problems": report.problems, "summary": s}, indent=1))
    elif report.ok:
        click.echo(
            f"ok: {s['shards']} shards, {s['samples']} samples ({s['with_captions']} with captions), "
            f"{s['bytes'] / 1e6:.1f} MB, media decoded in {s['decoded_shards']} of {s['shards']} shards"
        )
    else:
        for line in report.problems:
            click.echo(line)
        click.echo(f"verify: {len(report.problems)} problem(s) in {shard_dir}", err=True)
    if not report.ok:
        sys.exit(1)
