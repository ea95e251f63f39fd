"""Run fetch/shard tasks as Spark tasks (``--distributor spark``), for datasets that outgrow one machine.

The unit of work is the same independent task the process pool runs, so outputs, done-markers and
resume are identical; Spark adds scheduling over a cluster and per-task retries
(``spark.task.maxFailures``). Tasks are submitted in waves of a few per core so that results (and the
progress bar) come back while the job runs, not only at its end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MAX_FAILURES = 4


class SparkDistributor:
    """Uses the active SparkSession when there is one (spark-submit, notebooks), else starts one.

    ``master`` (e.g. ``spark://host:7077``, ``yarn``, ``k8s://...``) is only used when no session is
    active; without it a local session ``local[workers,max_failures]`` is started, in which failed tasks
    are retried like on a cluster.
    """

    name = "spark"

    def __init__(
        self,
        workers: int = 2,
        master: str | None = None,
        max_failures: int = DEFAULT_MAX_FAILURES,
        wave_factor: int = 4,
        **_: object,
    ):
        self.workers = max(1, int(workers))
        self.master = master
        self.max_failures = max_failures
        self.wave_factor = wave_factor
        self._spark = None
        self._owns_session = False

    @property
    def spark(self):
        if self._spark is None:
            self._spark, self._owns_session = _get_or_create_session(self.master, self.workers, self.max_failures)
        return self._spark

    def map_unordered(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        tasks = list(tasks)
        if not tasks:
            return
        sc = self.spark.sparkContext
        wave = max(1, sc.defaultParallelism * self.wave_factor)
        for start in range(0, len(tasks), wave):
            chunk = tasks[start : start + wave]
            # One partition per task: a Spark task is exactly one of our tasks, retried on its own.
            yield from sc.parallelize(chunk, numSlices=len(chunk)).map(fn).collect()

    def stop(self) -> None:
        """Stop the session only if this distributor started it."""
        if self._spark is not None and self._owns_session:
            self._spark.stop()
        self._spark = None


def _get_or_create_session(master: str | None, workers: int, max_failures: int):
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("--distributor spark needs pyspark: pip install 'valor[spark]'") from e
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    # Workers must run the same interpreter (and so the same installed valor) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName("valor-data")
        .master(master or f"local[{workers},{max_failures}]")
        .config("spark.task.maxFailures", str(max_failures))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session, True
