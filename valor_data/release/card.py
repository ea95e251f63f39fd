"""``valor-data card SHARDDIR``: write the dataset card beside the tars (names in ``card_files``).

``croissant.json`` (Croissant 1.1 + Responsible AI), ``README.md`` (Hugging Face card with the datasheet),
``SHA256SUMS``, ``availability.txt`` and ``clips.parquet``, each written atomically; rerunning rewrites them
from the directory as it is. ``valor-data shard`` calls :func:`write_card` at the end of a run.
"""

from __future__ import annotations

import json
from pathlib import Path

from valor_data import __version__
from valor_data.atomic import atomic_path, atomic_write_text
from valor_data.availability import write_availability
from valor_data.digest import sha256_file
from valor_data.release.card_files import (
    AVAILABILITY_NAME,
    CLIPS_NAME,
    CROISSANT_NAME,
    README_NAME,
    SUMS_NAME,
)
from valor_data.release.card_options import CardOptions
from valor_data.release.checksums import sums_text
from valor_data.release.clips_table import write_clips
from valor_data.release.croissant import croissant
from valor_data.release.facts import gather
from valor_data.release.hf_card import card_text
from valor_data.resources import VALOR32K_SPLITS


def write_card(shard_dir: str | Path, options: CardOptions | None = None) -> dict:
    """Write every card file; returns a summary (files written, samples, shards, splits, availability digest)."""
    root, options = Path(shard_dir), options or CardOptions()
    facts = gather(root, name=options.name, split=options.split, provenance=options.provenance)
    with atomic_path(root / CLIPS_NAME, sync=False) as tmp:
        write_clips(facts.clips, tmp)
    atomic_write_text(root / SUMS_NAME, sums_text((t.name, t.sha256) for t in facts.tars), sync=False)
    splits = set(facts.clips.column("split").to_pylist())
    one_split = next(iter(splits)) if len(splits) == 1 and splits <= set(VALOR32K_SPLITS) else None
    digest = write_availability(root / AVAILABILITY_NAME, facts.clips.column("clip_id").to_pylist(), {
        "name": facts.name, "split": one_split, "source": f"{CLIPS_NAME} of {facts.name}",
        "toolkit": f"valor-data {__version__}"})  # fmt: skip
    doc = croissant(facts, options, sha256_file(root / CLIPS_NAME))
    atomic_write_text(root / CROISSANT_NAME, json.dumps(doc, indent=1, ensure_ascii=False) + "\n", sync=False)
    atomic_write_text(root / README_NAME, card_text(facts, options), sync=False)
    return {
        "dir": str(root),
        "files": [CROISSANT_NAME, README_NAME, SUMS_NAME, AVAILABILITY_NAME, CLIPS_NAME],
        "samples": facts.samples,
        "shards": len(facts.tars),
        "splits": facts.splits,
        "failures": facts.failures,
        "fetch_dir_found": facts.fetch is not None,
        "availability_digest": digest,
    }
