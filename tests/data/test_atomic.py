"""The one atomic-write and lock helper every stage uses (fetch, shard, storage, train)."""

import multiprocessing as mp
import time

import pytest

from valor_data.atomic import TMP_SUFFIX, LockBusy, atomic_path, atomic_write_text, exclusive_lock


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    target = tmp_path / "marker.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_a_finished_write_replaces_the_old_file_whole(tmp_path):
    target = tmp_path / "latest"
    atomic_write_text(target, "old")
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(TMP_SUFFIX) and tmp.parent == tmp_path
        tmp.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


def _hold(path, seconds, ready):
    with exclusive_lock(path):
        ready.set()
        time.sleep(seconds)


def test_a_held_lock_is_refused_after_the_wait_then_granted_once_released(tmp_path):
    lock = tmp_path / ".lock"
    ready = mp.Event()
    holder = mp.Process(target=_hold, args=(lock, 1.5, ready))
    holder.start()
    assert ready.wait(10)
    started = time.monotonic()
    with pytest.raises(LockBusy), exclusive_lock(lock, wait_s=0.3):
        pass
    assert time.monotonic() - started >= 0.3
    with exclusive_lock(lock, wait_s=10):  # granted when the holder ends
        pass
    holder.join()
