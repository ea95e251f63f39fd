"""`valor-model`: train the reference VALOR model and write benchmark predictions."""

from __future__ import annotations

import click

from valor_data.lazycli import LazyGroup
from valor_model import __version__

COMMANDS = {
    "train": "valor_model.commands:train",
    "predict": "valor_model.commands:predict",
}


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="valor-model")
def main() -> None:
    """Train the reference VALOR model and predict AVR / AVC submissions."""


if __name__ == "__main__":
    main(prog_name="valor-model")
