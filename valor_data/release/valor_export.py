"""``export --layout valor``: a shard directory's clips into the official VALOR code's layout
(:mod:`valor_data.release.valor_layout`), resumable and parallel like ``shard``.

The clips are cut into tasks (slices in tar order) that any distributor runs; each clip is finished
whole or not at all (:mod:`valor_data.release.valor_media`), so a rerun of a killed or partly failed
run skips the finished clips and retries the rest. A clip that fails is left out of the id lists and
reported with its reason; it never stops the run. The id lists, the mapper and the COCO references are
written last, from the clips that are in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from valor_data.atomic import TMP_SUFFIX, LockBusy, exclusive_lock
from valor_data.engines.distributor import Distributor, get_distributor
from valor_data.fetch.plan import auto_task_size
from valor_data.release.coco import CocoCaptionError
from valor_data.release.shard_clips import ExportError, ShardClip, choose_splits, read_shard_clips
from valor_data.release.valor_layout import AUDIO_DIR, LOCK_NAME, ValorLayout, write_index_files
from valor_data.release.valor_media import ExportTask, export_task, is_done

# Why a clip of SHARDDIR was not exported by this run: the report's ``skipped`` keys, with what they mean.
SKIP_REASONS = {
    "already_exported": "already exported by an earlier run",
    "no_caption": "no caption (the official loader reads txt_mapper_en.json for every listed clip)",
    "not_in_splits": "in none of the chosen splits",
}


def export_valor(
    shard_dir: str | Path,
    out_dir: str | Path,
    layout: ValorLayout | None = None,
    splits: Sequence[str] = (),
    split_dir: str | Path | None = None,
    distributor: str | Distributor = "multiprocessing",
    workers: int = 2,
    progress: Callable[[int], object] | None = None,
    on_plan: Callable[[int], object] | None = None,
) -> dict:
    """Export the clips of ``shard_dir`` in ``splits`` (see :func:`choose_splits`) to ``out_dir``; returns the
    report. ``on_plan(n)`` is told how many clips are left to export, ``progress(n)`` as ``n`` more finish."""
    t0 = time.monotonic()
    layout = layout or ValorLayout()
    for what, path in (("SHARDDIR", shard_dir), ("OUT", out_dir)):
        if "://" in str(path):
            raise ExportError(f"{what} {path}: a local folder is needed (ffmpeg reads the tars and writes the frames)")
    choice = choose_splits(read_shard_clips(shard_dir), splits, split_dir)
    skipped: Counter = Counter({"not_in_splits": choice.not_in_splits} if choice.not_in_splits else {})
    by_split: dict[str, list[ShardClip]] = {}
    for split, clips in choice.clips.items():
        by_split[split] = [c for c in clips if c.captions or c.problem]  # a problem is reported as a failure
        if len(by_split[split]) < len(clips):
            skipped["no_caption"] += len(clips) - len(by_split[split])
    selected = [c for clips in by_split.values() for c in clips]
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with _run_lock(out):
        for folder in (layout.frames_dir, AUDIO_DIR):
            (out / folder).mkdir(exist_ok=True)
        todo = [c for c in selected if not is_done(out, layout, c)]
        if len(todo) < len(selected):
            skipped["already_exported"] = len(selected) - len(todo)
        if on_plan:
            on_plan(len(todo))
        failed = _run(out, layout, todo, distributor, workers, progress)
        ids = {split: [c.clip_id for c in clips if c.clip_id not in failed] for split, clips in by_split.items()}
        captions = {c.clip_id: c.captions for c in selected if c.clip_id not in failed}
        try:
            files = write_index_files(out, ids, captions)
        except CocoCaptionError as e:
            raise ExportError(f"{out}: {e}") from None
        _remove_leftovers(out, layout)
    return {
        "out": str(out),
        "layout": "valor",
        "frames_dir": layout.frames_dir,
        "audio_dir": AUDIO_DIR,
        "splits": {split: len(split_ids) for split, split_ids in ids.items()},
        "clips": len(selected),
        "written": len(todo) - len(failed),
        "skipped": dict(sorted(skipped.items())),
        "failed": [{"clip_id": clip_id, "reason": reason} for clip_id, reason in sorted(failed.items())],
        "without_sound": sum(1 for c in selected if c.audio is None and c.clip_id not in failed),
        "split_ids_not_in_shards": choice.listed_missing,
        "files": files,
        "seconds": round(time.monotonic() - t0, 3),
    }


def _run(out: Path, layout: ValorLayout, todo: list[ShardClip], distributor: str | Distributor, workers: int,
         progress: Callable[[int], object] | None) -> dict[str, str]:
    """Run the export tasks; returns the failed clips' reasons by clip id."""
    size = auto_task_size(len(todo), workers)
    tasks = [ExportTask(i, str(out), layout, tuple(todo[o:o + size])) for i, o in enumerate(range(0, len(todo), size))]
    failed: dict[str, str] = {}
    for outcomes in get_distributor(distributor, workers).map_unordered(export_task, tasks):
        failed.update((o.clip_id, o.error) for o in outcomes if o.error)
        if progress:
            progress(len(outcomes))
    return failed


def _remove_leftovers(out: Path, layout: ValorLayout) -> None:
    """Temporary frames folders and wavs of killed runs (this run holds the lock: none is being written)."""
    for folder in (out / layout.frames_dir, out / AUDIO_DIR):
        with os.scandir(folder) as entries:
            leftovers = [e.path for e in entries if e.name.endswith(TMP_SUFFIX)]
        for path in leftovers:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)


@contextlib.contextmanager
def _run_lock(out: Path) -> Iterator[None]:
    """One export into OUT at a time: a second run (or a rerun while a killed run's workers still write)
    is refused instead of racing it."""
    try:
        with exclusive_lock(out / LOCK_NAME, wait_s=0):
            yield
    except LockBusy:
        raise ExportError(f"OUT {out} is in use by another `valor-data export` run; wait for it to end") from None
