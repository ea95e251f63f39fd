"""``valor-bench challenge``: write an example challenge, check one, or give it a new host token."""

from __future__ import annotations

from pathlib import Path

import click

from valor_bench.ground_truth import GroundTruthError


@click.group()
def challenge() -> None:
    """Set up a challenge for `valor-bench serve`."""


@challenge.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing challenge.yaml (its host token stops working).")
def init(directory: Path, force: bool) -> None:
    """Write DIRECTORY/challenge.yaml: a VALOR-32K AVR/AVC challenge (phases val and test) to edit."""
    from valor_bench.commands.challenge_example import write_example  # optional extra: server (pyyaml)

    try:
        path, token = write_example(directory, force=force)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {path}")
    click.echo(f"host token (shown once; only its sha256 is in the file): {token}")
    click.echo(f"start the board: valor-bench serve --challenge {path}")


@challenge.command()
@click.argument("challenge_file", type=click.Path(dir_okay=False, path_type=Path))
def check(challenge_file: Path) -> None:
    """Check CHALLENGE_FILE and load each phase's ground truth, as `serve` does at start."""
    from valor_bench.server.config import ChallengeError, load_challenge  # optional extra: server

    try:
        c = load_challenge(challenge_file)
        for phase in c.phases.values():
            gt = phase.ground_truth.load()
            click.echo(f"phase {phase.name}: {', '.join(t.upper() for t in phase.tasks)} on {gt.describe()}, "
                       f"{phase.visibility}, {len(phase.baselines)} baseline(s)")
    except (ChallengeError, GroundTruthError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"ok: {challenge_file}")


@challenge.command()
@click.argument("challenge_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def token(challenge_file: Path) -> None:
    """Give CHALLENGE_FILE a new host token (printed once); restart `serve` for it to take effect."""
    from valor_bench.commands.challenge_example import rotate_host_token  # optional extra: server (pyyaml)

    try:
        new = rotate_host_token(challenge_file)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"new host token (shown once): {new}")
