"""``valor-bench serve``: host a challenge: web pages, JSON API and N evaluation workers."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.command()
@click.option("--challenge", "challenge_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The challenge.yaml to host (valor-bench challenge init DIR writes one).")
@click.option("--db", "db_url", help="Database URL: sqlite:///PATH or postgresql://user:pass@host/db "
                                     "(default: an SQLite file in the data directory).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where uploads are stored (default: data/ next to challenge.yaml).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(0, 64),
              help="Evaluation worker processes started with the server (0: only `valor-bench worker` elsewhere).")
@click.option("--secure-cookies", is_flag=True, help="Send the session cookie only over HTTPS (behind a TLS proxy).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def serve(challenge_file: Path, db_url: str | None, data_dir: Path | None, host: str, port: int, workers: int,
          secure_cookies: bool, log_level: str) -> None:
    """Serve CHALLENGE's pages and API, with WORKERS evaluation workers; Ctrl-C stops it (jobs stay queued)."""
    try:  # optional extra: server (starlette, sqlalchemy, uvicorn); `valor-bench --help` works without it
        from valor_bench.server.config import ChallengeError, load_challenge
        from valor_bench.server.state import open_server
        from valor_bench.server.supervisor import serve as run
        from valor_data.web.database import display_url
        from valor_data.web.schema import SchemaTooNew
    except ImportError as e:
        raise click.ClickException(f"the server needs the 'server' extra: pip install 'valor[server]' ({e})") from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    try:
        challenge = load_challenge(challenge_file)
        data_dir = (data_dir or challenge.path.parent / "data").resolve()
        db_url = db_url or f"sqlite:///{data_dir / 'board.sqlite'}"
        state = open_server(challenge, db_url, data_dir, secure_cookies=secure_cookies)
    except (ChallengeError, SchemaTooNew) as e:
        raise click.ClickException(str(e)) from None
    except Exception as e:  # an unreachable database, a read-only directory...
        raise click.ClickException(f"cannot start: {type(e).__name__}: {e}") from None
    click.echo(f"{challenge.title}: http://{host}:{port}/ ({workers} worker{'s' if workers != 1 else ''}, "
               f"db {display_url(state.db.url)}, data {data_dir})", err=True)
    run(state, host, port, workers, log_level)
