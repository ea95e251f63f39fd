"""The ``--distributor`` / ``--spark-master`` options shared by ``fetch``, ``shard`` and ``verify``."""

from __future__ import annotations

from collections.abc import Callable

import click

from valor_data.engines.distributor import Distributor, DistributorUnavailable, get_distributor

SPARK_MASTER_HELP = (
    "Spark master URL for --distributor spark (spark://HOST:7077, yarn, k8s://..., local[8]); default: the "
    "active session (spark-submit), else local[--workers]."
)


def spark_master_option(command: Callable) -> Callable:
    return click.option("--spark-master", metavar="URL", default=None, help=SPARK_MASTER_HELP)(command)


def make_distributor(name: str, workers: int, spark_master: str | None) -> Distributor:
    """Build the distributor the user asked for; a bad combination or a missing Spark/Java is one line."""
    if spark_master and name != "spark":
        raise click.UsageError(f"--spark-master is only used with --distributor spark (not {name})")
    options = {"master": spark_master} if name == "spark" else {}
    try:
        return get_distributor(name, workers, **options)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except DistributorUnavailable as e:
        raise click.ClickException(str(e)) from None
