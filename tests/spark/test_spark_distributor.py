"""The Spark distributor runs tasks like the process pool and retries a task whose worker died."""

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark


def _square(x: int) -> int:
    return x * x


def _die_once(task: tuple[str, int]) -> int:
    """Kill the Python worker on the first attempt of task 3, as a crashed/killed executor would."""
    marker_dir, value = task
    marker = Path(marker_dir) / f"attempt-{value}"
    if value == 3 and not marker.exists():
        marker.touch()
        os._exit(1)
    return value


def test_same_results_as_process_pool(spark_distributor):
    from valor_data.distributor import get_distributor

    tasks = list(range(25))
    expected = sorted(get_distributor("multiprocessing", 2).map_unordered(_square, tasks))
    assert sorted(spark_distributor.map_unordered(_square, tasks)) == expected


def test_killed_task_is_retried(spark_distributor, tmp_path):
    results = sorted(spark_distributor.map_unordered(_die_once, [(str(tmp_path), i) for i in range(6)]))
    assert results == list(range(6))
    assert (tmp_path / "attempt-3").exists()


def test_empty_task_list(spark_distributor):
    assert list(spark_distributor.map_unordered(_square, [])) == []
