"""``valor-bench availability``: write the versioned list of the clips you have, for ``--available``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from valor_bench import __version__
from valor_bench.commands.common import gt_options, load_gt
from valor_bench.coverage import AvailabilityError, read_availability
from valor_bench.ground_truth import sha256_file
from valor_data.availability import write_availability
from valor_data.commands.options import json_option

__all__ = ["availability"]  # the verb, loaded by name (valor_data.lazycli)


@click.command()
@click.option("--from-manifest", "source", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A fetch/shard manifest.parquet (its ok clips), a shard index.parquet, or a list of clip ids.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The list to write.")
@gt_options
@click.option("--name", help="A name for the list, e.g. 'valor32k-test community list 2025-06'.")
@json_option("a summary")
def availability(source: Path, out: Path, split: str | None, annotations: Path | None, name: str | None,
                 as_json: bool) -> None:
    """Write the clips of the ground truth that SOURCE has as an availability list (digest and date in
    its header), to pass to `evaluate | validate | submit --available`."""
    try:
        avail = read_availability(source)
    except AvailabilityError as e:
        raise click.ClickException(str(e)) from None
    gt = load_gt(split, annotations, avail)  # one line per problem, as --available prints them
    header = {"name": name, "split": gt.split, "annotations sha256": gt.sha256,
              "split clips": f"{gt.coverage.split_clips:,}", "coverage": gt.coverage.short(),
              "source": source.name, "source sha256": sha256_file(source), "toolkit": f"valor-bench {__version__}"}
    digest = write_availability(out, gt.video_ids, header)
    written = read_availability(out)  # what users will pass back: the header as stored
    summary = {"out": str(out), "split": gt.split, "digest": digest, "date": written.header.get("date"),
               "notes": gt.notes, "coverage": gt.coverage.as_json()}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for note in gt.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {out}: {gt.coverage.scored:,} of {gt.coverage.split_clips:,} {gt.split} clips "
               f"({gt.coverage.short()}), digest sha256:{digest}, dated {summary['date']}")
