"""What ``shard`` reads: the fetch manifest, the ``--ids`` lists and the ``--captions`` files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from valor_data.clip import MANIFEST_SCHEMA, OK, ClipRef, InvalidClip
from valor_data.inputs import BadRow, read_clips
from valor_data.shards.layout import MANIFEST_NAME, ShardError


def read_manifest(src_dir: str | Path) -> pa.Table:
    """The fetch manifest, checked for the columns shard needs."""
    path = Path(src_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ShardError(f"{src_dir}: no {MANIFEST_NAME} here; give the output directory of `valor-data fetch`")
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any parquet failure is one user-facing line
        raise ShardError(f"{path}: cannot read it as parquet: {e}") from None
    missing = [name for name in MANIFEST_SCHEMA.names if name not in table.column_names]
    if missing:
        raise ShardError(f"{path}: not a fetch manifest, missing columns: {', '.join(missing)}")
    statuses = zip(table.column("key").to_pylist(), table.column("status").to_pylist(), strict=True)
    ok_keys = [k for k, st in statuses if st == OK]
    dup = [k for k, n in Counter(ok_keys).items() if n > 1]
    if dup:
        raise ShardError(f"{path}: {len(dup)} ok clips appear more than once (first: {dup[0]}); rerun fetch")
    return table.select(MANIFEST_SCHEMA.names).cast(MANIFEST_SCHEMA)


def select_ids(manifest: pa.Table, id_files: Sequence[str | Path]) -> tuple[pa.Table, int]:
    """Keep the manifest rows of the clips listed in ``id_files`` (clip ids or sample keys, one per line,
    e.g. the ``{split}_ids.txt`` of `valor-data split`), so one fetch can be sharded split by split.

    Returns the selected rows (still one per listed clip that was fetched) and how many listed clips the
    manifest lacks. No files: the manifest unchanged.
    """
    if not id_files:
        return manifest, 0
    wanted: set[str] = set()
    for path in id_files:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ShardError(f"--ids {path}: cannot read it: {e}") from None
        for number, text in enumerate(lines, 1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                clip = ClipRef.from_key(text) if "." not in text else ClipRef.from_clip_id(text)
            except InvalidClip as e:
                raise ShardError(f"--ids {path}:{number}: {e}") from None
            wanted.add(clip.key)
    selected = manifest.filter(pc.is_in(manifest.column("key"), value_set=pa.array(sorted(wanted), pa.string())))
    return selected, len(wanted) - selected.num_rows


def read_caption_files(paths: Sequence[str | Path]) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Captions from VALOR JSON files: key -> captions (files in order, duplicates dropped), bad rows."""
    captions: dict[str, tuple[str, ...]] = {}
    bad: list[str] = []
    for path in paths:
        try:
            items = list(read_clips(path, "valor"))
        except (OSError, ValueError) as e:
            raise ShardError(f"--captions {path}: {e}") from None
        for item in items:
            if isinstance(item, BadRow):
                bad.append(f"{item.where}: {item.message}")
                continue
            merged = captions.get(item.key, ()) + clean_captions(item.captions)
            captions[item.key] = tuple(dict.fromkeys(merged))
    return captions, bad


def clean_captions(captions: Iterable[str] | None) -> tuple[str, ...]:
    """Stripped, non-empty captions: a whitespace-only caption is no caption."""
    return tuple(c.strip() for c in (captions or ()) if isinstance(c, str) and c.strip())
