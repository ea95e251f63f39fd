"""`valor-data verify`: check a shard directory written by `valor-data shard`."""

from __future__ import annotations

import json
import sys

import click

from valor_data.distributor import DISTRIBUTORS


@click.command()
@click.argument("shard_dir", metavar="SHARDDIR", type=click.Path(file_okay=False, exists=True))
@click.option("--workers", type=int, default=2, show_default=True, help="Tars checked in parallel.")
@click.option(
    "--distributor",
    type=click.Choice(sorted(DISTRIBUTORS)),
    default="multiprocessing",
    show_default=True,
    help="What runs the per-tar checks.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {ok, problems, summary} as JSON on stdout.")
def verify(shard_dir: str, workers: int, distributor: str, as_json: bool) -> None:
    """Check SHARDDIR: every tar complete and readable, four members per sample, media sha256 against
    each sample's json, one video frame and one audio track decoded per shard, index.parquet against
    the tars, and manifest.parquet / stats.json against the shards.

    Exits 1 with one line per problem, 0 with a short summary when all is well.
    """
    from tqdm import tqdm

    from valor_data.verify import verify_dir

    if workers < 1:
        raise click.UsageError(f"--workers must be >= 1, got {workers}")
    bar = tqdm(total=0, unit="shard", desc="verify", file=sys.stderr, dynamic_ncols=True)
    report = verify_dir(shard_dir, distributor, workers, progress=bar.update, on_plan=lambda n: bar.reset(total=n))
    bar.close()
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
