"""Steps the ``valor-data`` verbs share: the distributor a command runs on, warnings about dropped input rows.

The shared option declarations are in :mod:`valor_data.commands.options`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from valor_data.engines.distributor import (
    Distributor,
    DistributorUnavailable,
    get_distributor,
    stop_distributor,
)


@contextlib.contextmanager
def running_distributor(name: str, workers: int, spark_master: str | None) -> Iterator[Distributor]:
    """The distributor the user asked for, for the length of a command, then stopped (a Spark session it
    started ends with it). A bad combination or a missing Spark/Java is one line."""
    try:
        distributor = get_distributor(name, workers, master=spark_master)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except DistributorUnavailable as e:
        raise click.ClickException(str(e)) from None
    try:
        yield distributor
    finally:
        stop_distributor(distributor)


def warn_bad_rows(bad_rows, shown: int = 20) -> None:
    """Say on stderr which input rows were dropped and why (file:line), the first ``shown`` of them."""
    for bad in bad_rows[:shown]:
        click.echo(f"warning: {bad.where}: {bad.message}", err=True)
    if len(bad_rows) > shown:
        click.echo(f"warning: ... and {len(bad_rows) - shown} more invalid rows", err=True)
