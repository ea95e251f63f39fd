"""The command-line options several commands share, declared once for ``valor-data``, ``valor-bench`` and
``valor-model``, so that a flag means the same and is checked the same way wherever it appears.

Each is a decorator: ``@workers_option(2, "Shards written in parallel.")`` above a click command.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import click

from valor_data.engines.distributor import DISTRIBUTORS

Decorator = Callable[[Callable], Callable]
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def byte_size(ctx: click.Context, param: click.Parameter, value: str | int | None) -> int | None:
    """Callback of a ``SIZE`` option: ``500K``, ``2M``, ``1.5G`` or plain bytes (binary multiples, like yt-dlp)."""
    if value is None or isinstance(value, int):
        return value
    m = _SIZE_RE.match(value)
    if not m:
        raise click.BadParameter(f"{value!r} is not a size like 500K, 2M or 1.5G", ctx, param)
    power = "kmgt".index(m.group(2).lower()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * 1024**power)


def workers_option(default: int, help: str) -> Decorator:
    """``--workers N``: parallel tasks, at least 1."""
    return click.option("--workers", type=click.IntRange(min=1), default=default, show_default=True, help=help)


def distributor_option(help: str = "What runs the tasks.") -> Decorator:
    """``--distributor``: one of the distributors valor_data.engines knows."""
    return click.option("--distributor", type=click.Choice(sorted(DISTRIBUTORS)), default="multiprocessing",
                        show_default=True, help=help)


def spark_master_option(command: Callable) -> Callable:
    """``--spark-master URL``: where ``--distributor spark`` runs."""
    return click.option(
        "--spark-master", metavar="URL", default=None,
        help="Spark master URL for --distributor spark (spark://HOST:7077, yarn, k8s://..., local[8]); default: "
             "the active session (spark-submit), else local[--workers].",
    )(command)


def json_option(what: str = "the summary") -> Decorator:
    """``--json``: print ``what`` as JSON on stdout instead of the human-readable lines."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON on stdout.")


def progress_option(command: Callable) -> Callable:
    """``--progress/--no-progress``: the progress bar (or log lines) on stderr."""
    return click.option("--progress/--no-progress", default=True, show_default=True,
                        help="Progress bar on stderr (status lines when stderr is not a terminal).")(command)
