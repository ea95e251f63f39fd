"""``valor-bench worker``: an evaluation worker for a challenge served by `valor-bench serve`."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.command()
@click.option("--db", "db_url", required=True,
              help="The server's database URL (postgresql://... to run workers on other machines).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The server's data directory as mounted here (default: the path the server recorded).")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(0.05, 60),
              help="Seconds between looks at an empty queue.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def worker(db_url: str, data_dir: Path | None, poll: float, log_level: str) -> None:
    """Lease submissions from the queue in DB_URL, score them, record the results; SIGTERM hands back the job."""
    try:  # optional extra: server (sqlalchemy); `valor-bench --help` works without it
        from sqlalchemy.exc import SQLAlchemyError

        from valor_bench.server.worker import run_worker
    except ImportError as e:
        raise click.ClickException(f"the worker needs the 'server' extra: pip install 'valor[server]' ({e})") from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    try:
        run_worker(db_url, data_dir, poll)
    except RuntimeError as e:
        raise click.ClickException(str(e)) from None
    except SQLAlchemyError as e:
        raise click.ClickException(f"database error: {' '.join(str(e.orig or e).split())}") from None
