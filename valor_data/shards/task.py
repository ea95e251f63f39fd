"""The shard task, the unit of work, retry and resume (as in img2dataset): one tar written to a
temporary name, committed whole, and only then its done-marker (``{shard}.stats.json``).

A rerun skips the tasks whose marker belongs to this very plan and whose tar has the size the marker
records, so a tar cut short by a crash is never taken as done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from valor_data.engines.distributor import Distributor, get_distributor
from valor_data.engines.storage import Store
from valor_data.shards.layout import marker_name
from valor_data.shards.plan import Plan, ShardTask
from valor_data.shards.tar import tar_members, write_tar


@dataclass(frozen=True)
class ShardResult:
    """What a shard task hands back: its done-marker, or the error that stopped it."""

    shard: str
    marker: dict | None = None
    error: str | None = None


def write_shard(task: ShardTask) -> ShardResult:
    """Write one shard and its done-marker.

    Never raises, so that one bad shard does not stop a process pool; the caller retries or reports.
    """
    try:
        return ShardResult(task.name, marker=_write_shard(task))
    except Exception as e:  # noqa: BLE001 - reported per shard, rerun retries
        return ShardResult(task.name, error=f"{type(e).__name__}: {e}")


def _write_shard(task: ShardTask) -> dict:
    """The tar is written on local disk (in SHARDDIR itself when it is local), committed whole (a rename,
    or an upload for an fsspec URL), and only then is its marker written. A failed attempt leaves nothing
    behind (a SIGKILL can: reruns clean up)."""
    store = Store(task.out_dir)
    with store.staged(task.name) as tmp:
        stats = write_tar(task, tmp)
        members, tar_sha256 = tar_members(tmp)
        tar_bytes = tmp.stat().st_size
    marker = {
        "shard": task.name,
        "digest": task.digest,
        "samples": len(task.samples),
        "keys": [s.key for s in task.samples],
        "tar_bytes": tar_bytes,
        "tar_sha256": tar_sha256,
        "video_bytes": stats["video_bytes"],
        "audio_bytes": stats["audio_bytes"],
        "with_captions": stats["with_captions"],
        "without_captions": stats["without_captions"],
        "duration_s": round(stats["duration_s"], 6),
        "members": members,
    }
    store.write_text(marker_name(task.name), json.dumps(marker, indent=1))
    return marker


def read_done_marker(task: ShardTask) -> dict | None:
    """The task's marker if the shard is complete: marker of this very plan, and the tar at its size."""
    store = Store(task.out_dir)
    try:
        marker = json.loads(store.read_text(marker_name(task.name)))
        size = store.size(task.name)
    except (OSError, ValueError):
        return None
    if marker.get("digest") != task.digest or marker.get("tar_bytes") != size:
        return None
    return marker


def run_tasks(
    plan: Plan,
    distributor: str | Distributor,
    workers: int,
    progress: Callable[[int], object] | None = None,
    on_plan: Callable[[int], object] | None = None,
) -> tuple[dict[str, dict], int, dict[str, str]]:
    """Run the shard tasks not done yet (one retry in the same run; a rerun of the command retries again).

    Returns the done-markers by shard name, how many were already done, and the failures by shard name.
    """
    runner = get_distributor(distributor, workers)
    markers: dict[str, dict] = {}
    todo = []
    for task in plan.tasks:
        marker = read_done_marker(task)
        if marker is None:
            todo.append(task)
        else:
            markers[task.name] = marker
    skipped = len(markers)
    if on_plan:
        on_plan(len(todo))
    failures: dict[str, str] = {}
    for _attempt in range(2):
        by_name = {t.name: t for t in todo}
        retry = []
        for result in runner.map_unordered(write_shard, todo):
            if result.marker is None:
                failures[result.shard] = result.error
                retry.append(by_name[result.shard])
                continue
            failures.pop(result.shard, None)
            markers[result.shard] = result.marker
            if progress:
                progress(1)
        todo = retry
        if not todo:
            break
    return markers, skipped, failures
