"""`valor-data annotate`: run a VALOR caption campaign (training, first stage with feedback, second stage
with three blind reviewers) in the browser: init, import, invite, serve, status, export."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from valor_data.annotate.states import STAGES, Role
from valor_data.commands.options import json_option, progress_option

__all__ = ["annotate"]  # the verb, loaded by name (valor_data.lazycli)

ROLES = tuple(r.value for r in Role)
EXTRA = "the campaign needs the 'annotate' extra: pip install 'valor[annotate]'"

directory_argument = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))


def db_option(command: Callable) -> Callable:
    return click.option("--db", "db_url", envvar="VALOR_ANNOTATE_DB", show_envvar=True,
                        help="Database URL: postgresql://user:pass@host/db, sqlite:///PATH or a path "
                             "(default: DIRECTORY/campaign.sqlite).")(command)


@contextmanager
def opened(directory: Path, db_url: str | None) -> Iterator:
    """The campaign of ``directory``; a broken campaign.yaml, database or input is one line."""
    try:  # optional extra: annotate (sqlalchemy, pyyaml); `valor-data --help` works without it
        from valor_data.annotate.campaign import CampaignError
        from valor_data.annotate.drafts import DraftsError
        from valor_data.annotate.state import Campaign
        from valor_data.web.errors import InputError
        from valor_data.web.schema import SchemaTooNew
    except ImportError as e:
        raise click.ClickException(f"{EXTRA} ({e})") from None
    try:
        campaign = Campaign.open(directory, db_url)
    except (CampaignError, SchemaTooNew) as e:
        raise click.ClickException(str(e)) from None
    except Exception as e:  # an unreachable database, a read-only directory...
        first = (str(e).strip().splitlines() or [""])[0]
        raise click.ClickException(f"cannot open the campaign database: {type(e).__name__}: {first}") from None
    try:
        yield campaign
    except (InputError, DraftsError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        campaign.close()


@click.group()
def annotate() -> None:
    """Make captions the VALOR way (paper Sec. 3.2): annotators train on gold clips, the organisers check
    the first stage's captions and feed common problems back, three other annotators review each
    second-stage caption blind and more than one reject sends it back."""


@annotate.command()
@directory_argument
def init(directory: Path) -> None:
    """Write an example campaign into DIRECTORY (campaign.yaml, guidelines.md) to edit."""
    try:  # optional extra: annotate (pyyaml)
        from valor_data.annotate.campaign import CampaignError, write_example
    except ImportError as e:
        raise click.ClickException(f"{EXTRA} ({e})") from None
    try:
        files = write_example(directory)
    except CampaignError as e:
        raise click.ClickException(str(e)) from None
    for path in files:
        click.echo(f"wrote {path}")
    click.echo(f"next: valor-data annotate import {directory} SHARD_OR_FETCH_DIR --stage first")


@annotate.command(name="import")
@directory_argument
@click.argument("source", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--stage", type=click.Choice(STAGES), required=True,
              help="training: gold clips every annotator writes to qualify; first: checked by the organisers; "
                   "second: three reviewers each.")
@click.option("--split", default="train", show_default=True, help="The desc_{split}.json the captions go to.")
@click.option("--drafts", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="AVC predictions ([{video_id, caption}]) shown to writers as drafts to edit (campaign.yaml "
                   "drafts: true).")
@db_option
@progress_option
@json_option()
def import_(directory: Path, source: Path, stage: str, split: str, drafts: Path | None, db_url: str | None,
            progress: bool, as_json: bool) -> None:
    """Add the ok clips of SOURCE (a shard directory or a fetch directory) to the campaign in DIRECTORY."""
    from valor_data.annotate.importing import import_clips  # optional extra: annotate

    with opened(directory, db_url) as campaign:
        s = import_clips(campaign, source, stage, split=split, drafts=drafts, progress=progress)
    if as_json:
        click.echo(json.dumps(s.__dict__, indent=1))
        return
    click.echo(f"{s.imported} clips imported into stage {s.stage} from {s.kind} directory {s.source} in "
               f"{s.seconds:.1f} s ({s.existing} already there, {s.not_ok} failed downloads skipped"
               f"{f', {s.drafts} with a draft' if drafts else ''})")
    for clip_id, why in s.problems[:20]:
        click.echo(f"warning: {clip_id}: {why}", err=True)
    if s.bad:
        click.echo(f"warning: {s.bad} ok clips left out (they cannot be served)", err=True)


@annotate.command()
@directory_argument
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("-n", "count", type=click.IntRange(1, 10_000), default=1, show_default=True, help="How many links.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="Where people reach `annotate serve`.")
@db_option
def invite(directory: Path, role: str, count: int, base_url: str, db_url: str | None) -> None:
    """Print COUNT one-time login links for ROLE (each works once; only their hash is stored)."""
    from valor_data.annotate.people import create_invites  # optional extra: annotate

    with opened(directory, db_url) as campaign:
        tokens = create_invites(campaign, role, count)
    for token in tokens:
        click.echo(f"{base_url.rstrip('/')}/join/{token}")


@annotate.command()
@directory_argument
@db_option
@json_option("the progress")
def status(directory: Path, db_url: str | None, as_json: bool) -> None:
    """Print the campaign's progress: per stage, clips per state, captions and verdicts."""
    from valor_data.annotate.status import progress  # optional extra: annotate

    with opened(directory, db_url) as campaign:
        p = progress(campaign)
    if as_json:
        click.echo(json.dumps(p, indent=1))
        return
    click.echo(f"campaign {p['campaign']}: " + (", ".join(f"{n} {role}s" for role, n in sorted(p["people"].items()))
                                                or "nobody has joined"))
    for stage, s in p["stages"].items():
        parts = [f"{k} {', '.join(f'{n} {state}' for state, n in sorted(v.items()))}" for k, v in s.items() if v]
        click.echo(f"  {stage}: " + ("; ".join(parts) if parts else "no clips"))


@annotate.command()
@directory_argument
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@db_option
def export(directory: Path, out: Path, db_url: str | None) -> None:
    """Write the accepted captions as OUT/desc_{split}.json (the VALOR format) and OUT/provenance.parquet."""
    from valor_data.annotate.export import export as run  # optional extra: annotate

    with opened(directory, db_url) as campaign:
        s = run(campaign, out)
    for split, n in s.captions.items():
        click.echo(f"desc_{split}.json: {n} captions")
    click.echo(f"{s.provenance_rows} captions with their verdicts in {out / 'provenance.parquet'}")


@annotate.command()
@directory_argument
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def serve(directory: Path, db_url: str | None, host: str, port: int, log_level: str) -> None:
    """Serve the campaign's pages and API; Ctrl-C stops it (leases, captions and rounds stay in the database)."""
    try:  # optional extra: annotate (starlette, uvicorn)
        import uvicorn

        from valor_data.annotate.web.app import create_app
    except ImportError as e:
        raise click.ClickException(f"{EXTRA} ({e})") from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    with opened(directory, db_url) as campaign:
        click.echo(f"{campaign.config.name}: http://{host}:{port}/", err=True)
        uvicorn.run(create_app(campaign), host=host, port=port, log_level=log_level)
