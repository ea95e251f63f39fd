"""Run fetch/shard/verify tasks as Spark tasks (``--distributor spark``), for datasets that outgrow one machine.

The unit of work is the same independent task the process pool runs, so outputs, done-markers and resume
are identical; Spark adds scheduling over a cluster and per-task retries (``spark.task.maxFailures``).
Each task is submitted as its own one-partition Spark job from a small thread pool, a bounded number at
a time: results come back (and the progress bar moves) as each task ends, a straggler holds up nothing
else, and a task that fails for good fails only its own job.

A session started here writes the JVM's output (its start-up banner, log4j warnings, executor errors,
Python worker tracebacks) to a log file instead of the terminal, so the command's own progress bar and
summary stay readable; the log's path is in every error message.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

from valor_data.engines.errors import DistributorUnavailable, TaskFailed

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MAX_FAILURES = 4
JAVA_HINT = ("install Java 17 (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install "
             "openjdk@17) or point JAVA_HOME at one")


class SparkTaskError(TaskFailed):
    """A task failed on every attempt Spark gave it; the tasks that finished are kept (rerun to resume)."""


class SparkDistributor:
    """Runs tasks on the active SparkSession when there is one (spark-submit, notebooks), else starts one.

    ``master`` (``spark://host:7077``, ``yarn``, ``k8s://...``, ``local[8]``) is used only when a session is
    started here; without it the session is ``local[workers,max_failures]``, where a failed task is retried
    as on a cluster. ``workers`` also bounds the tasks in flight: at least twice the cluster's cores (Spark's
    default parallelism) are submitted at once, more when ``workers`` is larger.
    """

    name = "spark"

    def __init__(
        self,
        workers: int = 2,
        master: str | None = None,
        max_failures: int = DEFAULT_MAX_FAILURES,
        log_path: str | os.PathLike | None = None,
        **_: object,
    ):
        self.workers = max(1, int(workers))
        self.master = master
        self.max_failures = max(1, int(max_failures))
        self.log_path = Path(log_path) if log_path else None
        self._keep_log = log_path is not None  # a log we chose is removed after a clean run
        self._spark = None
        self._owns_session = False
        check_spark_available(needs_java=_active_session() is None)

    @property
    def spark(self):
        """The SparkSession, started on first use."""
        if self._spark is None:
            self._spark, self._owns_session = self._get_or_create_session()
        return self._spark

    def map_unordered(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Yield ``fn(task)`` for every task as each Spark job ends; raise :class:`SparkTaskError` after the
        other in-flight tasks have finished (and been yielded) if one failed on all its attempts."""
        tasks = list(tasks)
        if not tasks:
            return
        sc = self.spark.sparkContext
        in_flight = max(2 * sc.defaultParallelism, self.workers)
        group = f"valor-{uuid.uuid4().hex[:12]}"

        def run_one(index: int, task: T) -> R:
            sc.setJobGroup(group, f"valor task {index}", interruptOnCancel=True)
            # One partition: a Spark task is exactly one of our tasks, retried on its own.
            return sc.parallelize([task], 1).map(fn).collect()[0]

        failure: str | None = None
        failed = 0
        pool = ThreadPoolExecutor(min(in_flight, len(tasks)), thread_name_prefix="valor-spark")
        running: dict[Future, int] = {}
        queue = iter(enumerate(tasks))
        try:
            for index, task in queue:
                running[pool.submit(run_one, index, task)] = index
                if len(running) >= in_flight:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    error = future.exception()
                    if error is None:
                        yield future.result()
                    else:
                        failed += 1
                        failure = failure or f"task {index}: {describe_failure(error)}"
                    if failure is None:  # after a failure nothing new starts; what runs is let finish
                        for nxt, task in queue:
                            running[pool.submit(run_one, nxt, task)] = nxt
                            break
        finally:
            if running:  # the caller stopped early (Ctrl-C, an exception): stop our jobs, not the session
                with contextlib.suppress(Exception):
                    sc.cancelJobGroup(group)
            pool.shutdown(wait=True, cancel_futures=True)
        if failure is not None:
            self._keep_log = True
            log = f"; Spark log: {self.log_path}" if self.log_path and self._owns_session else ""
            raise SparkTaskError(f"{failed} Spark task(s) failed on every attempt, first {failure}{log}")

    def stop(self) -> None:
        """Stop the session only if this distributor started it (a spark-submit or notebook session stays);
        its log is removed unless a task failed or the caller chose the log's path."""
        if self._spark is not None and self._owns_session:
            self._spark.stop()
            if not self._keep_log and self.log_path is not None:
                self.log_path.unlink(missing_ok=True)
        self._spark = None

    def _get_or_create_session(self):
        from pyspark.sql import SparkSession  # optional extra: spark

        active = _active_session()
        if active is not None:
            return active, False
        builder = SparkSession.builder.appName("valor-data").config("spark.ui.showConsoleProgress", "false")
        if "PYSPARK_GATEWAY_PORT" in os.environ:  # spark-submit started the JVM: its master and settings hold
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
                return (builder.master(self.master) if self.master else builder).getOrCreate(), False
        master = self.master or f"local[{self.workers},{self.max_failures}]"
        builder = builder.master(master).config("spark.task.maxFailures", str(self.max_failures))
        if master.startswith("local"):
            # Local workers run this very interpreter (and so this installed valor); on a cluster the
            # executors' Python is the cluster's to configure (spark.pyspark.python / PYSPARK_PYTHON).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = builder.config("spark.ui.enabled", "false")
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="valor-spark-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        try:
            # The JVM (and its Python workers) inherit these for their lifetime; pyspark's own start-up
            # warnings (e.g. about the pandas version, unused here) are start-up noise too.
            with _output_to(self.log_path), warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
                session = builder.getOrCreate()
        except Exception as e:  # noqa: BLE001 - every start-up failure is one line for the user
            self._keep_log = True
            raise DistributorUnavailable(
                f"Spark could not start (master {master}): {_last_line(self.log_path) or e}; "
                f"full log: {self.log_path}"
            ) from None
        session.sparkContext.setLogLevel("WARN")
        return session, True


def check_spark_available(needs_java: bool = True) -> None:
    """Fail with one actionable line when pyspark or Java is missing, before any work starts."""
    try:
        import pyspark  # noqa: F401  (optional extra: spark; is it installed?)
    except ImportError:
        raise DistributorUnavailable(
            "--distributor spark needs pyspark: pip install 'valor[spark]' (or pip install pyspark)"
        ) from None
    if not needs_java:
        return
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        if not os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
            raise DistributorUnavailable(f"--distributor spark: JAVA_HOME={java_home} has no bin/java; {JAVA_HINT}")
    elif shutil.which("java") is None:
        raise DistributorUnavailable(f"--distributor spark needs Java (Spark runs on the JVM): {JAVA_HINT}")


def describe_failure(error: BaseException) -> str:
    """One line from a Spark job failure: how often the task failed and the Python error that ended it."""
    text = str(error)
    attempts = re.search(r"failed (\d+) times", text)
    python_error = None
    for line in text.splitlines():
        line = line.strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*:", line) and "py4j" not in line \
                and not line.startswith(("org.", "java.", "scala.")):
            python_error = line  # the last one is the innermost
    crashed = "Python worker exited unexpectedly" in text or "crashed" in text
    what = python_error or ("the Python worker died (killed or crashed)" if crashed else text.splitlines()[0][:300])
    if python_error and "No module named 'valor_data'" in python_error:
        what += (" (the executors' Python lacks valor: point spark.pyspark.python / PYSPARK_PYTHON at an "
                 "environment where valor[data,spark] is installed)")
    return f"{what} ({attempts.group(1)} attempts)" if attempts else what


def _active_session():
    try:
        from pyspark.sql import SparkSession  # optional extra: spark
    except ImportError:
        return None
    return SparkSession.getActiveSession()


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``path`` for the duration: the JVM launched meanwhile keeps them,
    so its banner and logs never reach the terminal (nor corrupt ``--json`` on stdout)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)


def _last_line(path: Path | None) -> str:
    """The most telling line of the Spark log for an error message: the exception that ended the JVM, else
    the first root cause (e.g. ``Failed to connect to host:7077``), else the first ERROR, else the last line
    (e.g. ``JAVA_HOME is not set``)."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except (OSError, TypeError):
        return ""
    lines = [ln for ln in lines if not ln.startswith(("at ", "..."))]
    for pick in (lambda ln: ln.startswith("Exception in thread"), lambda ln: ln.startswith("Caused by:"),
                 lambda ln: " ERROR " in ln):
        found = next((ln for ln in lines if pick(ln)), None)
        if found:
            return found.removeprefix("Caused by: ")[:300]
    return lines[-1][:300] if lines else ""
