"""``shard_config.json``: the options and input digests a run records, which a rerun on the same
SHARDDIR must match (else it would mix shards of two plans)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from valor_data.atomic import TMP_SUFFIX
from valor_data.engines.storage import Store
from valor_data.shards.layout import CONFIG_NAME, LOCK_NAME, ShardError
from valor_data.shards.plan import Plan, ShardOptions, sha256_json


def run_config(
    src: Path, options: ShardOptions, caption_files: Sequence[str | Path], captions: dict, plan: Plan
) -> dict:
    """What shard_config.json records: the options and digests of the captions and of the plan."""
    return {
        "format": 1,
        "prefix": options.prefix,
        "shard_size": options.shard_size,
        "shard_bytes": options.shard_bytes,
        "captions": [str(p) for p in caption_files],
        "captions_sha256": sha256_json(sorted(captions.items())),
        "plan_sha256": plan.digest,
        "source": str(src.resolve()),
        "shards": len(plan.tasks),
        "samples": sum(len(t.samples) for t in plan.tasks),
    }


def check_config(out: Store, config: dict) -> None:
    """Record the options on the first run; refuse a rerun whose options or input differ."""
    out_dir, path = out.location, f"{out.location}/{CONFIG_NAME}"
    names = out.list()
    if CONFIG_NAME not in names:
        leftovers = [n for n in names if not n.endswith(TMP_SUFFIX) and n != LOCK_NAME]
        if leftovers:
            raise ShardError(
                f"--out {out_dir}: not empty and not a shard directory (no {CONFIG_NAME}); choose a new one"
            )
        out.write_text(CONFIG_NAME, json.dumps(config, indent=1))
        return
    try:
        old = json.loads(out.read_text(CONFIG_NAME))
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: unreadable ({e}); remove the directory or choose a new --out") from None
    changed = [
        f"--{k.replace('_', '-')} {config[k]} (was {old.get(k)})"
        for k in ("prefix", "shard_size", "shard_bytes")
        if old.get(k) != config[k]
    ]
    if changed:
        raise ShardError(
            f"--out {out_dir} was written with other options: {', '.join(changed)}; "
            "rerun with the same options or choose a new --out"
        )
    if old.get("captions_sha256") != config["captions_sha256"]:
        raise ShardError(f"--out {out_dir} was written with other captions; use the same --captions or a new --out")
    if old.get("plan_sha256") != config["plan_sha256"]:
        raise ShardError(
            f"--out {out_dir} was written from a different input (the fetch manifest changed); choose a new --out"
        )
