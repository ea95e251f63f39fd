"""`valor-data export`: a shard directory in the layout another tool reads (``--layout valor``: the official
VALOR code's)."""

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
from valor_data.progress import progress_bar
from valor_data.release.shard_clips import ExportError, check_split_options
from valor_data.release.valor_export import SKIP_REASONS, export_valor
from valor_data.release.valor_layout import AUDIO_DIR, ValorLayout, parse_size
from valor_data.splits.stratify import SPLITS

__all__ = ["export"]  # the verb, loaded by name (valor_data.lazycli)

LAYOUTS = ("valor",)


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ExportError as e:
        raise click.BadParameter(str(e), ctx, param) from None


@click.command()
@click.argument("shard_dir", metavar="SHARDDIR", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("out", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option("--layout", type=click.Choice(LAYOUTS), required=True,
              help="valor: the official VALOR code's ({split}_id.json, txt_mapper_en.json, capanno_en.json, "
                   f"frames folder, {AUDIO_DIR}/).")
@click.option("--split", "splits", multiple=True, type=click.Choice(SPLITS),
              help="The split SHARDDIR's clips belong to (a shard directory of one split, as `shard --ids` "
                   "makes); with --split-dir, the splits to export (default: all). Repeatable.")
@click.option("--split-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder written by `valor-data split` ({split}_ids.txt or desc_{split}.json): each clip "
                   "goes to the split whose file lists it.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=4.0, show_default=True,
              help="Frames per second kept (frames_fps4/).")
@click.option("--size", metavar="HxW", callback=_size, default=None,
              help="Resize frames to HEIGHTxWIDTH, e.g. 360x480 (folder frames_{fps}fps_360*480_jpg/, the "
                   "official configs' naming). Default: the video's own size.")
@workers_option(2, "Clips exported in parallel (one ffmpeg each).")
@distributor_option("What runs the export tasks.")
@spark_master_option
@progress_option
@json_option("the report")
def export(shard_dir: Path, out: Path, layout: str, splits: tuple[str, ...], split_dir: Path | None, fps: float,
           size: tuple[int, int] | None, workers: int, distributor: str, spark_master: str | None, progress: bool,
           as_json: bool) -> None:
    """Write the clips of the shard directory SHARDDIR to OUT in the layout another tool reads.

    --layout valor: per split a JSON id list, txt_mapper_en.json (clip id -> caption or list), COCO
    references of the val/test clips (capanno_en.json), one folder of JPEG frames per clip
    (frame_0001.jpg, ...) and a mono 22,050 Hz wav per clip with sound. Media are read in place in the
    tars. Clip ids are kept verbatim. Exporting another split into the same OUT adds to its mapper. Killed
    or partly failed runs resume: run the same command again.
    """
    try:
        valor_layout = ValorLayout(fps, size)
        check_split_options(splits, split_dir)
    except ExportError as e:
        raise click.UsageError(str(e)) from None
    try:
        with running_distributor(distributor, workers, spark_master) as runner, \
                progress_bar(total=0, unit="clip", desc="export", disable=not progress) as bar:
            report = export_valor(shard_dir, out, valor_layout, splits, split_dir, runner, workers,
                                  progress=bar.update, on_plan=lambda n: bar.reset(total=n))
    except (ExportError, DistributorUnavailable) as e:
        raise click.ClickException(str(e)) from None
    except (TaskFailed, OSError) as e:
        raise click.ClickException(f"export stopped: {e}. Exported clips are kept; rerun the same command.") from None
    if as_json:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        _print_report(report)
    if report["failed"]:
        sys.exit(1)


def _print_report(r: dict) -> None:
    echo = click.echo
    for item in r["failed"][:20]:
        echo(f"error: {item['clip_id']}: {item['reason']}", err=True)
    if len(r["failed"]) > 20:
        echo(f"error: ... and {len(r['failed']) - 20} more clips failed", err=True)
    if r["split_ids_not_in_shards"]:
        echo(f"warning: {r['split_ids_not_in_shards']} clips of the split files are not in SHARDDIR", err=True)
    splits = ", ".join(f"{name} {n}" for name, n in r["splits"].items())
    echo(f"{r['written']} clips written, {len(r['failed'])} failed -> {r['out']} ({splits})")
    for reason, n in r["skipped"].items():
        echo(f"  skipped {n}: {SKIP_REASONS[reason]}")
    echo(f"  frames: {r['frames_dir']}/, sound: {r['audio_dir']}/ ({r['without_sound']} clips without sound, no wav)")
    echo(f"  {', '.join(r['files'])}; {r['seconds']:.1f} s")
    if r["failed"]:
        echo(f"{len(r['failed'])} clips failed and are left out of the id lists; run the same command again to "
             "retry them.", err=True)
