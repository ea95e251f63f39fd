"""What ``valor-model train`` and ``predict`` share: logging per DDP rank and the parsing of
``--override`` / ``--groups``."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import click

from valor_model.config import GROUPS


def setup_logging() -> None:
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, stream=sys.stderr,
                        format="%(message)s" if rank == 0 else f"[rank {rank}] %(message)s")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parse_overrides(values: tuple[str, ...]) -> dict[str, Any]:
    """``--override audio.slice_frames=256`` -> {"audio": {"slice_frames": 256}} (values parsed as JSON,
    else kept as strings)."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. audio_slices=1", param_hint="--override")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def parse_groups(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    groups = tuple(g.strip() for g in value.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise click.BadParameter(f"{value!r}: a comma list of {', '.join(GROUPS)}", param_hint="--groups")
    return groups
