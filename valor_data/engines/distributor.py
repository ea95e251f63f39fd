"""Distributors run independent tasks (a fetch task or a shard task) and hand back their results.

A task is the unit of work, retry and resume (img2dataset's design): the caller drops the tasks whose
done-marker already exists, the distributor runs the rest, and every distributor has the same signature,
so ``fetch`` and ``shard`` never know which one runs them. Results come back as tasks finish, so the
caller can advance a progress bar and write its summary.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

from valor_data.engines.errors import DistributorUnavailable, TaskFailed
from valor_data.engines.spark import SparkDistributor

__all__ = ["DISTRIBUTORS", "Distributor", "DistributorUnavailable", "ProcessDistributor", "SerialDistributor",
           "SparkDistributor", "TaskFailed", "get_distributor", "stop_distributor"]

T = TypeVar("T")
R = TypeVar("R")


class Distributor(Protocol):
    name: str

    def map_unordered(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Run ``fn`` on every task, yield each result as soon as its task finishes."""
        ...


class SerialDistributor:
    """In-process, one task at a time: for debugging and for tiny inputs."""

    name = "serial"

    def __init__(self, workers: int = 1, **_: object):
        self.workers = 1

    def map_unordered(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)


class ProcessDistributor:
    """A local process pool (the default). Tasks must be picklable, ``fn`` a module-level function."""

    name = "multiprocessing"

    def __init__(self, workers: int = 2, **_: object):
        self.workers = max(1, int(workers))

    def map_unordered(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        if self.workers == 1 or len(tasks) <= 1:
            yield from SerialDistributor().map_unordered(fn, tasks)
            return
        # "spawn" would re-import the caller's heavy modules in each worker; fork is safe here because the
        # data toolkit holds no threads or GPU state when it distributes.
        ctx = mp.get_context("fork")
        with ctx.Pool(min(self.workers, len(tasks)), maxtasksperchild=None) as pool:
            yield from pool.imap_unordered(fn, tasks, chunksize=1)


DISTRIBUTORS: dict[str, Callable[..., Distributor]] = {
    "multiprocessing": ProcessDistributor,
    "serial": SerialDistributor,
    "spark": SparkDistributor,  # pyspark (and Java) are needed only when one is made
}


def get_distributor(distributor: str | Distributor, workers: int = 2, **options: object) -> Distributor:
    """A distributor by name (unknown names fail loudly with the known ones listed), or an instance
    (e.g. ``SparkDistributor(master=...)``) as is.

    ``options`` go to the named distributor: ``master=`` for Spark, nothing for the others.
    """
    if not isinstance(distributor, str):
        return distributor
    if distributor not in DISTRIBUTORS:
        raise ValueError(f"unknown distributor {distributor!r}: choose one of {', '.join(sorted(DISTRIBUTORS))}")
    if options.get("master") and distributor != "spark":
        raise ValueError(f"--spark-master is only used with --distributor spark (not {distributor})")
    if distributor != "spark":
        options.pop("master", None)
    return DISTRIBUTORS[distributor](workers=workers, **options)


def stop_distributor(distributor: object) -> None:
    """Release what a distributor holds (a Spark session it started); a no-op for the others."""
    stop = getattr(distributor, "stop", None)
    if callable(stop):
        stop()
