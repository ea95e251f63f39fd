"""``shard``: read the fetch manifest, plan the shards, run the shard tasks, then write the index, stats
and final manifest.

Output layout of SHARDDIR (names in :mod:`valor_data.shards.layout`)::

    SHARDDIR/shard_config.json         options and input digests (a rerun must match them)
    SHARDDIR/{prefix}-{i:06d}.tar      WebDataset tar: {key}.flac, .json, .mp4, .txt per sample
    SHARDDIR/{prefix}-{i:06d}.stats.json   the tar's done-marker: members, sizes, sha256
    SHARDDIR/index.parquet             one row per tar member, with its byte offsets
    SHARDDIR/manifest.parquet          the fetch manifest, shard column filled
    SHARDDIR/stats.json                totals and the shard list

Resumability: a killed run is finished by running it again with the same options; shards whose marker
and tar agree are skipped, partial files of the killed run are removed once all is in place.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from valor_data.atomic import TMP_SUFFIX, LockBusy, exclusive_lock
from valor_data.engines.distributor import Distributor
from valor_data.engines.storage import Store
from valor_data.shards.config import check_config, run_config
from valor_data.shards.inputs import read_caption_files, read_manifest, select_ids
from valor_data.shards.layout import LOCK_NAME, ShardError
from valor_data.shards.outputs import write_outputs
from valor_data.shards.plan import ShardOptions, plan_shards
from valor_data.shards.tar import tar_writer_class
from valor_data.shards.task import run_tasks


def run_shard(
    src_dir: str | Path,
    out_dir: str | Path,
    options: ShardOptions,
    caption_files: Sequence[str | Path] = (),
    distributor: str | Distributor = "multiprocessing",
    workers: int = 2,
    progress: Callable[[int], object] | None = None,
    on_plan: Callable[[int], object] | None = None,
    id_files: Sequence[str | Path] = (),
) -> dict:
    """Shard a fetch directory (only the clips listed in ``id_files`` when given); returns the summary.
    Resumes a killed run with the same options.

    ``out_dir`` is a local path or an fsspec URL (valor_data.engines.storage); ``distributor`` a name or an instance
    (e.g. ``SparkDistributor(master=...)``). ``on_plan(n)`` is told how many shards are left to write,
    ``progress(1)`` is called per shard written.
    """
    t0 = time.monotonic()
    tar_writer_class()  # imported once here, inherited by forked workers
    src, store = Path(src_dir), Store(out_dir)
    out = Path(out_dir) if store.local else store.location
    manifest, ids_unmatched = select_ids(read_manifest(src), id_files)
    captions, caption_bad = read_caption_files(caption_files)
    plan = plan_shards(src, out, manifest, options, captions)
    plan.caption_bad_rows = caption_bad
    store.makedirs()
    # No locks on remote stores: tasks are idempotent anyway.
    with _run_lock(out) if store.local else contextlib.nullcontext():
        check_config(store, run_config(src, options, caption_files, captions, plan))
        markers, skipped, failures = run_tasks(plan, distributor, workers, progress, on_plan)
        summary = {
            "out": str(out),
            "shards": len(plan.tasks),
            "shards_written": len(markers) - skipped,
            "shards_skipped": skipped,
            "shards_failed": [f"{name}: {msg}" for name, msg in sorted(failures.items())],
            "missing_media": [f"{k}: {msg}" for k, msg in sorted(plan.missing_media.items())],
            "captions_unmatched": plan.captions_unmatched,
            "caption_bad_rows": plan.caption_bad_rows,
            "ids_unmatched": ids_unmatched,
        }
        if not failures:
            stats = write_outputs(store, manifest, plan, [markers[t.name] for t in plan.tasks])
            for key in ("samples", "with_captions", "without_captions", "tar_bytes", "duration_s_total"):
                summary[key] = stats[key]
            summary["status"] = stats["manifest"]["status"]
            summary["manifest_rows"] = stats["manifest"]["rows"]
            for leftover in store.list():  # partial files of killed runs, once every output is in place
                if leftover.endswith(TMP_SUFFIX):
                    store.remove(leftover)
    summary["seconds"] = round(time.monotonic() - t0, 3)
    return summary


@contextlib.contextmanager
def _run_lock(out: Path) -> Iterator[None]:
    """Hold SHARDDIR's lock for the run: a second run (or the rerun of a killed one whose orphaned
    workers still write) is refused instead of racing them."""
    try:
        with exclusive_lock(out / LOCK_NAME, wait_s=0):
            yield
    except LockBusy:
        raise ShardError(f"--out {out} is in use by another `valor-data shard` run; wait for it to end") from None
