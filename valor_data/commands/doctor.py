"""``valor-data doctor``: one table of what a real fetch needs here and whether it is there."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valor_data.commands.options import byte_size, distributor_option, json_option
from valor_data.doctor import DoctorOptions, missing, run_checks
from valor_data.fetch.sources import SOURCES

__all__ = ["doctor"]  # the verb, loaded by name (valor_data.lazycli)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--source", type=click.Choice(SOURCES), default="youtube", show_default=True,
              help="The fetch source to check for: it decides what is required.")
@click.option("--out", "out_dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where fetch will write: free space and write access are checked.")
@click.option("--cookies", type=click.Path(dir_okay=False), default=None,
              help="The cookies file fetch will get: readable, Netscape format, unexpired cookies.")
@click.option("--video-dir", type=click.Path(file_okay=False), default=None,
              help="--source local: the directory of {ytid}.<ext> videos.")
@distributor_option("The distributor fetch will use: spark makes Java and pyspark required.")
@click.option("--min-free", metavar="SIZE", callback=byte_size, default="1G", show_default=True,
              help="Least free space in --out.")
@click.option("--max-ytdlp-age", type=click.IntRange(min=0), default=90, show_default=True,
              help="Days after which yt-dlp counts as too old for YouTube.")
@json_option("the rows")
def doctor(source, out_dir, cookies, video_dir, distributor, min_free, max_ytdlp_age, as_json):
    """Check ffmpeg and its codecs, PyAV, yt-dlp (version, age, JavaScript runtime, EJS), the cookies
    file, Java, pyspark and free disk for a fetch with --source. Exit 1 when something required is
    missing (MISSING rows); warnings name what only some runs need."""
    opts = DoctorOptions(source=source, out=out_dir, cookies=cookies, video_dir=video_dir,
                         distributor=distributor, min_free=min_free, max_ytdlp_age_days=max_ytdlp_age)
    rows = run_checks(opts)
    bad = missing(rows)
    if as_json:
        click.echo(json.dumps({"source": source, "ok": not bad, "checks": [r.to_dict() for r in rows]}, indent=1))
    else:
        table = Table(title=f"valor-data doctor --source {source}", title_justify="left")
        for col in ("check", "status", "required", "detail"):
            table.add_column(col, overflow="fold")
        styles = {"ok": "green", "MISSING": "bold red", "warning": "yellow"}
        for r in rows:
            table.add_row(escape(r.name), f"[{styles.get(r.status, 'dim')}]{r.status}[/]",
                          "yes" if r.required else "", escape(r.detail))
        console = Console(width=None if Console().is_terminal else 160)
        console.print(table)
        if bad:
            console.print(f"[bold red]missing for --source {source}:[/] {', '.join(r.name for r in bad)}")
        else:
            console.print(f"everything --source {source} needs is here")
    if bad:
        raise SystemExit(1)
