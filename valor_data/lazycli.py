"""The one command-line shape of ``valor-data``, ``valor-bench`` and ``valor-model``: a click group whose
verbs live one per module under ``<package>.commands`` and are imported only when used.

Keeps ``--help`` fast and lets each toolkit run without the heavy extras of verbs it does not use (the
pattern from click's documentation on lazily loading sub-commands).
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    def __init__(self, *args, lazy_subcommands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # name -> "package.module:command_object"
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            module_name, attr = self.lazy_subcommands[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)


def _py(verb: str) -> str:
    """The Python name of a verb: ``export-refs`` -> ``export_refs`` (click's own rule for command names)."""
    return verb.replace("-", "_")


def lazy_group(prog: str, version: str, package: str, verbs: list[str], help: str) -> click.Group:
    """The ``prog`` command: each verb ``v`` is the click command ``v`` of module ``{package}.commands.v``
    (dashes in ``v`` read as underscores)."""

    @click.group(cls=LazyGroup, help=help, context_settings={"help_option_names": ["-h", "--help"]},
                 lazy_subcommands={v: f"{package}.commands.{_py(v)}:{_py(v)}" for v in verbs})
    @click.version_option(version, prog_name=prog)
    def main() -> None:
        pass

    return main
