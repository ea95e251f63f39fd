"""`valor-data`: the dataset toolkit's command line."""

from __future__ import annotations

import click

from valor_data import __version__
from valor_data.lazycli import LazyGroup

COMMANDS = {
    "fetch": "valor_data.commands.fetch:fetch",
    "shard": "valor_data.commands.shard:shard",
    "verify": "valor_data.commands.verify:verify",
    "acd": "valor_data.commands.acd:acd",
    "split": "valor_data.commands.split:split",
    "stats": "valor_data.commands.stats:stats",
    "demo": "valor_data.commands.demo:demo",
}


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="valor-data")
def main() -> None:
    """Build VALOR-1M / VALOR-32K style datasets and measure their captions."""


if __name__ == "__main__":
    main(prog_name="valor-data")
