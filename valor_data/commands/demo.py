"""`valor-data demo`: run the whole toolkit offline on an embedded AudioSet-like mirror."""

from __future__ import annotations

from pathlib import Path

import click

from valor_data.commands.options import workers_option
from valor_data.synthetic.demo import Demo, DemoError, DemoOptions

__all__ = ["demo"]  # the verb, loaded by name (valor_data.lazycli)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"),
              show_default=True, help="Folder for every output of the demo.")
@click.option("--clips", type=click.IntRange(20, 5000), default=120, show_default=True,
              help="Synthetic audiovisual clips (9 edge cases that must fail are added).")
@click.option("--train-steps", type=click.IntRange(1), default=40, show_default=True,
              help="Optimiser steps of the tiny model.")
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@workers_option(2, "Parallel tasks in making the media, fetch and shard.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out: Path, clips: int, train_steps: int, batch_size: int, workers: int, seed: int) -> None:
    """Make a small AudioSet-like set (synthetic audible clips with captions and real AudioSet labels, plus
    clips that must fail for each reason), serve it from a local mirror, then run fetch, split, shard,
    verify, export (the test split in the official VALOR code's layout), a caption campaign (scripted annotators
    and reviewers through the three steps, then export), acd, stats, train a tiny VALOR, predict AVR and AVC,
    submit both and print the leaderboard."""
    try:
        Demo(DemoOptions(out, clips, train_steps, batch_size, workers, seed)).main()
    except DemoError as e:
        raise click.ClickException(str(e)) from None
