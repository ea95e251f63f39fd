"""Check a shard directory's card against its shards, for ``valor-data verify``.

``verify`` already re-reads every tar against stats.json, so the card is checked against stats.json and
index.parquet (counts, names, hashes) without reading the tars again. One line per problem.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pyarrow.parquet as pq

from valor_data.availability import availability_digest
from valor_data.digest import sha256_file
from valor_data.release.card_files import (
    AVAILABILITY_NAME,
    CARD_NAMES,
    CLIPS_NAME,
    CROISSANT_NAME,
    README_NAME,
    SUMS_NAME,
)
from valor_data.release.checksums import parse_sums
from valor_data.shards.layout import INDEX_NAME, STATS_NAME


def has_card(shard_dir: str | Path) -> bool:
    return any((Path(shard_dir) / name).exists() for name in CARD_NAMES)


def check_card(shard_dir: str | Path) -> list[str]:
    """Problems of the card of ``shard_dir`` (empty when it matches the shards)."""
    root = Path(shard_dir)
    missing = [name for name in CARD_NAMES if not (root / name).is_file()]
    if missing:
        return [f"{name}: missing; rerun `valor-data card {root}`" for name in missing]
    try:
        stats = json.loads((root / STATS_NAME).read_text(encoding="utf-8"))
        index = pq.read_table(root / INDEX_NAME, columns=["key", "clip_id"])
    except (OSError, ValueError):
        return []  # verify reports an unreadable stats.json or index.parquet itself
    tars = {s["name"]: s for s in stats.get("shard_list", [])}
    problems = _check_sums(root, tars)
    problems += _check_clips(root, set(index.column("key").to_pylist()))
    problems += _check_croissant(root, tars)
    problems += _check_availability(root, set(index.column("clip_id").to_pylist()))
    problems += _check_readme(root, tars)
    return problems


def _check_sums(root: Path, tars: dict[str, dict]) -> list[str]:
    try:
        sums = parse_sums((root / SUMS_NAME).read_text(encoding="utf-8"), SUMS_NAME)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return [f"{SUMS_NAME}: {e}"]
    problems = [f"{SUMS_NAME}: lists {n}, which is not a shard here" for n in sorted(set(sums) - set(tars))]
    problems += [f"{SUMS_NAME}: does not list {n}" for n in sorted(set(tars) - set(sums))]
    problems += [f"{SUMS_NAME}: {n}: sha256 differs from stats.json's" for n in sorted(set(sums) & set(tars))
                 if sums[n] != tars[n]["sha256"]]
    return problems


def _check_clips(root: Path, index_keys: set[str]) -> list[str]:
    try:
        keys = pq.read_table(root / CLIPS_NAME, columns=["key"]).column("key").to_pylist()
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file or missing column
        return [f"{CLIPS_NAME}: unreadable ({e})"]
    if len(keys) != len(set(keys)) or set(keys) != index_keys:
        return [f"{CLIPS_NAME}: {len(keys)} rows for the {len(index_keys)} samples of {INDEX_NAME} "
                f"({len(set(keys) - index_keys)} unknown, {len(index_keys - set(keys))} missing)"]
    return []


def _check_croissant(root: Path, tars: dict[str, dict]) -> list[str]:
    try:
        doc = json.loads((root / CROISSANT_NAME).read_text(encoding="utf-8"))
        files = {d["@id"]: d for d in doc["distribution"] if d.get("@type") == "cr:FileObject"}
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"{CROISSANT_NAME}: unreadable ({type(e).__name__}: {e})"]
    archives = {i: d for i, d in files.items() if d.get("encodingFormat") == "application/x-tar"}
    problems = [f"{CROISSANT_NAME}: describes {n}, which is not a shard here" for n in sorted(set(archives) - set(tars))]
    problems += [f"{CROISSANT_NAME}: does not describe {n}" for n in sorted(set(tars) - set(archives))]
    for name in sorted(set(archives) & set(tars)):
        if archives[name].get("sha256") != tars[name]["sha256"]:
            problems.append(f"{CROISSANT_NAME}: {name}: sha256 differs from stats.json's")
        if archives[name].get("contentSize") != f"{tars[name]['bytes']} B":
            problems.append(f"{CROISSANT_NAME}: {name}: contentSize {archives[name].get('contentSize')} but the "
                            f"shard has {tars[name]['bytes']} B")
    table = [d for d in files.values() if str(d.get("contentUrl", "")).endswith(CLIPS_NAME)]
    if not table or table[0].get("sha256") != sha256_file(root / CLIPS_NAME):
        problems.append(f"{CROISSANT_NAME}: the sha256 of {CLIPS_NAME} differs from the file's")
    return problems


def _check_availability(root: Path, clip_ids: set[str]) -> list[str]:
    text = (root / AVAILABILITY_NAME).read_text(encoding="utf-8")
    ids = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if set(ids) != clip_ids:
        return [f"{AVAILABILITY_NAME}: lists {len(set(ids))} clips, the shards hold {len(clip_ids)} "
                f"({len(set(ids) - clip_ids)} not in the shards, {len(clip_ids - set(ids))} not listed)"]
    if f"# digest: sha256:{availability_digest(ids)}" not in text:
        return [f"{AVAILABILITY_NAME}: its digest header does not match its ids"]
    return []


def _check_readme(root: Path, tars: dict[str, dict]) -> list[str]:
    from huggingface_hub import DatasetCard  # optional extra: release (parses the card as the Hub does)

    try:
        data = DatasetCard((root / README_NAME).read_text(encoding="utf-8")).data.to_dict()
    except Exception as e:  # noqa: BLE001 - yaml and huggingface_hub raise several types
        return [f"{README_NAME}: the Hugging Face card header does not parse ({e})"]
    paths = [f.get("path") for config in data.get("configs") or [] for f in config.get("data_files") or []]
    patterns = [p for path in paths for p in ([path] if isinstance(path, str) else path or [])]
    unmatched = [n for n in sorted(tars) if not any(fnmatch.fnmatch(n, p) for p in patterns)]
    return [f"{README_NAME}: configs.data_files ({', '.join(patterns) or 'none'}) miss {', '.join(unmatched[:3])}"
            + (f" and {len(unmatched) - 3} more" if len(unmatched) > 3 else "")] if unmatched else []
