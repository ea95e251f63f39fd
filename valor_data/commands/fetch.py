"""``valor-data fetch INPUT... --out DIR``: download, filter and normalise clips, resumably."""

from __future__ import annotations

import gc
import json
import os
import shutil

import click
from click.core import ParameterSource

from valor_data.clip import OK
from valor_data.commands.common import running_distributor, warn_bad_rows
from valor_data.commands.options import (
    byte_size,
    distributor_option,
    json_option,
    progress_option,
    spark_master_option,
    workers_option,
)
from valor_data.doctor import youtube_problems
from valor_data.engines.distributor import DistributorUnavailable
from valor_data.engines.storage import is_url
from valor_data.fetch.filters import DEFAULT_FILTERS, FILTERS
from valor_data.fetch.plan import FetchConfigError, FetchOptions
from valor_data.fetch.probe import DARK_LUMA, GRID
from valor_data.fetch.run import FetchBusyError, run_fetch
from valor_data.fetch.sources import DEFAULT_FORMAT, SOURCES
from valor_data.inputs import FORMATS, read_inputs
from valor_data.progress import progress_bar

__all__ = ["fetch"]  # the verb, loaded by name (valor_data.lazycli)


def _filters(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise click.BadParameter(f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}",
                                 param_hint="--filters")
    return names


def _ytdlp_opts(value: str | None) -> tuple[tuple[str, object], ...]:
    if not value:
        return ()
    try:
        parsed = json.loads(value)
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--ytdlp-opts") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object of yt-dlp parameters", param_hint="--ytdlp-opts")
    return tuple(sorted(parsed.items()))


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    done = f", {summary.tasks_done_before} already done" if summary.tasks_done_before else ""
    click.echo(f"fetched {summary.rows} rows ({summary.clips} clips, {summary.invalid_rows} invalid rows, "
               f"{summary.duplicates} duplicates merged) in {summary.tasks} tasks{done}, {summary.seconds:.1f} s")
    width = max((len(s) for s in summary.counts), default=2)
    for status, n in summary.counts.items():
        click.echo(f"  {status:<{width}}  {n:>8}")
    if summary.fallbacks:
        click.echo(f"{summary.fallbacks} clips came as a downloaded segment (formats ffmpeg cannot seek in directly, "
                   "e.g. HLS)")
    click.echo(f"manifest: {summary.manifest}")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--input-format", type=click.Choice(FORMATS), default=None,
              help="Input format (default: from the extension: .csv AudioSet, .json/.jsonl VALOR, else id list).")
@click.option("--source", type=click.Choice(SOURCES), default="youtube", show_default=True,
              help="Where media come from.")
@click.option("--url-template", default=None, help="Mirror URL with {ytid}, e.g. 'http://host/{ytid}.mp4'.")
@click.option("--video-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Directory of full videos named {ytid}.<ext> (--source local).")
@click.option("--format", default=DEFAULT_FORMAT, show_default=True, help="yt-dlp format selector.")
@click.option("--cookies", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Netscape cookies file for yt-dlp (sign-in, age checks).")
@click.option("--proxy", default=None, help="Proxy URL for yt-dlp and its ffmpeg.")
@click.option("--rate-limit", metavar="SIZE", callback=byte_size, default=None, help="yt-dlp download rate limit in bytes/s (e.g. 2M).")
@click.option("--sleep-requests", type=click.FloatRange(min=0), default=None,
              help="Seconds yt-dlp sleeps between requests.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retries for transient failures (rate_limited, network, timeout) only.")
@click.option("--retry-wait", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="First back-off in seconds, doubled at each retry (with 20 percent jitter).")
@click.option("--socket-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds without data before a connection counts as timed out.")
@click.option("--max-filesize", metavar="SIZE", callback=byte_size, default=None, help="Largest downloaded segment (e.g. 200M).")
@click.option("--max-duration", type=click.FloatRange(min=0), default=None,
              help="Skip source videos longer than this many seconds.")
@click.option("--ytdlp-opts", "ytdlp_params", callback=lambda ctx, param, value: _ytdlp_opts(value), default=None, help="Extra yt-dlp parameters as a JSON object (expert use).")
@click.option("--filters", callback=lambda ctx, param, value: _filters(value), default=",".join(DEFAULT_FILTERS),
              show_default=True,
              help=f"Comma-separated filters, from: {', '.join(FILTERS)}.")
@click.option("--min-duration", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Shortest clip kept, seconds.")
@click.option("--silence-db", type=float, default=-60.0, show_default=True,
              help="Audio RMS (dBFS) below which a clip is silent.")
@click.option("--frozen-diff", type=click.FloatRange(min=0), default=8.0, show_default=True,
              help=f"Frozen when no block of a {GRID}x{GRID} grid over the picture changes by this many grey "
                   "or colour levels (0-255, block mean) between any two sampled frames.")
@click.option("--black-share", type=click.FloatRange(0, 1, min_open=True), default=0.98, show_default=True,
              help=f"Black when at least this share of the pixels of every sampled frame is dark (luma <= "
                   f"{DARK_LUMA:g} of 255), as ffmpeg's blackdetect counts.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Output frame rate (default: the source's, capped at --max-fps).")
@click.option("--max-fps", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Cap on the kept source frame rate.")
@click.option("--short-side", type=click.IntRange(min=2), default=224, show_default=True,
              help="Output short side in pixels (even).")
@click.option("--sample-rate", type=click.IntRange(min=1), default=16000, show_default=True,
              help="Output audio sample rate (Hz).")
@click.option("--channels", type=click.IntRange(min=1), default=1, show_default=True,
              help="Output audio channels.")
@click.option("--crf", type=click.IntRange(0, 51), default=23, show_default=True, help="x264 quality.")
@click.option("--preset", default="veryfast", show_default=True, help="x264 speed preset.")
@click.option("--task-size", type=click.IntRange(min=1), default=None,
              help="Clips per task (default: about 4 tasks per worker, at most 100 clips). Fixed for the life of OUT.")
@workers_option(os.cpu_count() or 1, "Parallel tasks (more than the cores pays off when downloads dominate).")
@distributor_option("How the tasks run.")
@spark_master_option
@progress_option
@json_option()
@click.pass_context
def fetch(ctx: click.Context, inputs, out_dir, input_format, task_size, workers, distributor, spark_master,
          progress, as_json, **flags):
    """Download, filter and normalise the clips listed in INPUT... into OUT.

    INPUT is an AudioSet segment CSV, a VALOR annotation JSON or a list of clip ids
    ({ytid}_{start}_{end}). Every input clip gets exactly one row in OUT/manifest.parquet: status "ok"
    (OUT/clips/<task>/<key>.mp4 + .flac) or a failure reason with the real message. Killing the command
    at any moment and running it again finishes the job.
    """
    if shutil.which("ffmpeg") is None:
        raise click.ClickException("ffmpeg not found on PATH: install it (Debian/Ubuntu: apt-get install ffmpeg)")
    if is_url(out_dir):
        raise click.UsageError(f"--out {out_dir}: fetch writes media with ffmpeg, so --out must be a local or "
                               "mounted directory (on a cluster: one every executor mounts at the same path); "
                               "`valor-data shard --out` takes fsspec URLs")
    explicit = {name for name in flags if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    try:
        options = FetchOptions.from_flags(flags, explicit)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    gc.disable()  # a million input rows are a million live objects: collections while reading are wasted
    try:
        inputs_read = read_inputs(inputs, input_format)
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        gc.enable()
    warn_bad_rows(inputs_read.bad_rows)  # each is also a manifest row, status invalid_id
    if options.download.source == "youtube":
        for problem in youtube_problems():
            click.echo(f"warning: {problem} (`valor-data doctor --source youtube` checks the rest)", err=True)

    clips = inputs_read.clips
    totals: dict[str, int] = {}

    def on_task(result) -> None:
        for status, n in result.counts.items():
            totals[status] = totals.get(status, 0) + n
        bar.update(result.clips)
        bar.set_postfix(ok=totals.get(OK, 0), failed=sum(totals.values()) - totals.get(OK, 0), refresh=False)

    try:
        with running_distributor(distributor, workers, spark_master) as runner, \
                progress_bar(total=len(clips), unit="clip", desc="fetch", disable=not progress) as bar:
            summary = run_fetch(clips, inputs_read.bad_rows, out_dir, options, duplicates=inputs_read.duplicates,
                                task_size=task_size, distributor=runner, on_task=on_task)
    except (FetchConfigError, FetchBusyError, DistributorUnavailable) as e:
        raise click.ClickException(str(e)) from None
    except click.ClickException:
        raise
    except Exception as e:  # a task died (disk full, permissions, a bug): say so, keep what is done
        raise click.ClickException(
            f"fetch stopped: {type(e).__name__}: {e}. Finished clips are kept; rerun the same command to resume."
        ) from e
    _print_summary(summary, as_json)
