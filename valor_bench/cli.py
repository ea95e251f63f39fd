"""`valor-bench`: validate, evaluate and rank AVR / AVC submissions."""

from __future__ import annotations

import click

from valor_bench import __version__
from valor_data.lazycli import LazyGroup

COMMANDS = {
    "validate": "valor_bench.commands:validate",
    "evaluate": "valor_bench.commands:evaluate",
    "submit": "valor_bench.commands:submit",
    "leaderboard": "valor_bench.commands:leaderboard",
}


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="valor-bench")
def main() -> None:
    """Validate, evaluate and rank submissions to the AVR and AVC benchmarks."""


if __name__ == "__main__":
    main(prog_name="valor-bench")
