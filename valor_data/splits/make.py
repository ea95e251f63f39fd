"""``valor-data split``'s job: read the candidate clips, keep the fetched / captioned ones, stratify, write.

The command only parses options and prints; everything a split is made of happens here, so the Python
API (``make_split``) and the CLI give the same split and the same ``split_report.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow.parquet as pq

from valor_data.clip import OK, ClipRef
from valor_data.inputs import InputSet, read_inputs, read_valor_json
from valor_data.splits.stratify import (
    VALOR32K_SIZES,
    check_disjoint,
    label_distance,
    stratified_split,
    target_sizes,
    write_split,
)


class SplitError(ValueError):
    """Inputs or options a split cannot be made from; the message is one line for the user."""


def rows_read(inputs: InputSet) -> str:
    """How many rows were read and why some were dropped, naming the first bad row's file:line."""
    bad = inputs.bad_rows
    text = f"read {len(inputs.clips) + len(bad) + inputs.duplicates:,} rows: {len(inputs.clips):,} clips"
    if inputs.duplicates:
        text += f", {inputs.duplicates:,} duplicates merged"
    if bad:
        text += f", {len(bad):,} malformed (first: {bad[0].where}: {bad[0].message})"
    return text


def ok_clip_ids(manifest: str | Path) -> set[str]:
    """Clip ids whose status is ok in a fetch ``manifest.parquet``."""
    try:
        table = pq.read_table(manifest, columns=["clip_id", "status"])
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad parquet / missing column
        raise SplitError(f"{manifest}: not a fetch manifest with clip_id and status columns ({e})") from None
    ids, statuses = table.column("clip_id").to_pylist(), table.column("status").to_pylist()
    return {i for i, s in zip(ids, statuses, strict=True) if s == OK}


def _captions_of(caption_files: Sequence[str | Path]) -> dict[str, tuple[str, ...]]:
    captions: dict[str, tuple[str, ...]] = {}
    for path in caption_files:
        try:
            for item in read_valor_json(path):
                if isinstance(item, ClipRef) and item.captions:
                    captions.setdefault(item.key, item.captions)
        except (OSError, ValueError) as e:
            raise SplitError(f"{path}: {e}") from None
    return captions


def make_split(
    files: Sequence[str | Path],
    out: str | Path,
    *,
    manifest: str | Path | None = None,
    caption_files: Sequence[str | Path] = (),
    sizes: Sequence[int] | None = None,
    fractions: Sequence[float] | None = None,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
    inputs: InputSet | None = None,
) -> dict:
    """Split the clips of ``files`` (default sizes: VALOR-32K's) into ``out``; returns the summary that is
    also written to ``out/split_report.json``. ``inputs`` may be given when the caller read them already."""
    if inputs is None:
        try:
            inputs = read_inputs(files)
        except (OSError, ValueError) as e:
            raise SplitError(str(e)) from None
    clips = inputs.clips
    excluded: dict[str, int] = {}
    if manifest is not None:
        ok = ok_clip_ids(manifest)
        kept = [c for c in clips if c.clip_id in ok]
        excluded["not ok in the manifest"] = len(clips) - len(kept)
        clips = kept
    captions = None
    if caption_files:
        captions = _captions_of(caption_files)
        kept = [c for c in clips if c.key in captions]
        excluded["no caption"] = len(clips) - len(kept)
        clips = kept
    dropped = "".join(f", {n:,} {k}" for k, n in excluded.items())
    if not clips:
        raise SplitError(f"no usable clip to split ({rows_read(inputs)}{dropped})")
    try:
        wanted = (target_sizes(len(clips), fractions=fractions) if fractions
                  else target_sizes(len(clips), sizes=sizes or list(VALOR32K_SIZES)))
    except ValueError as e:
        raise SplitError(f"{e} ({rows_read(inputs)}{dropped})") from None
    result = stratified_split(clips, wanted, seed=seed, progress=progress)
    leaks = check_disjoint(result.splits)
    if leaks:  # cannot happen by construction; a guard against regressions
        raise RuntimeError(f"internal error: YouTube ids in several splits: {list(leaks)[:5]}")
    out = Path(out)
    written = write_split(result.splits, out, captions)
    summary = {
        "inputs": [str(f) for f in files],
        "candidates": len(clips),
        "bad_rows": len(inputs.bad_rows),
        "first_bad_row": (f"{inputs.bad_rows[0].where}: {inputs.bad_rows[0].message}" if inputs.bad_rows
                          else None),
        "duplicate_rows": inputs.duplicates,
        "excluded": excluded,
        "seed": seed,
        "sizes": {n: len(v) for n, v in result.splits.items()},
        "unused": len(result.unused),
        "ytids": {n: len({c.ytid for c in v}) for n, v in result.splits.items()},
        "label_distance": label_distance(result.splits, clips),
        "written": [str(p) for p in written],
    }
    (out / "split_report.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary
