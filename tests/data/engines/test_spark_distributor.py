"""The Spark distributor runs tasks like the process pool, retries a task whose worker died, reports a task
that fails on every attempt in one line after the others have finished, and says what to install when
pyspark or Java is missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from valor_data.engines.distributor import DistributorUnavailable, TaskFailed, get_distributor
from valor_data.engines.spark import _last_line, check_spark_available, describe_failure


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


def _fail_on_two(value: int) -> int:
    if value == 2:
        raise ValueError(f"task two always fails ({value})")
    return value


@pytest.mark.spark
def test_same_results_as_process_pool(spark_distributor):
    tasks = list(range(12))
    expected = sorted(get_distributor("multiprocessing", 2).map_unordered(_square, tasks))
    assert sorted(spark_distributor.map_unordered(_square, tasks)) == expected


@pytest.mark.spark
def test_killed_task_is_retried(spark_distributor, tmp_path):
    results = sorted(spark_distributor.map_unordered(_die_once, [(str(tmp_path), i) for i in range(6)]))
    assert results == list(range(6))
    assert (tmp_path / "attempt-3").exists()


@pytest.mark.spark
def test_task_failing_every_attempt_is_one_line_after_the_others(spark_distributor):
    got = []
    with pytest.raises(TaskFailed) as info:
        for value in spark_distributor.map_unordered(_fail_on_two, range(5)):
            got.append(value)
    message = str(info.value)
    assert "task 2: ValueError: task two always fails (2)" in message and "\n" not in message
    # Tasks submitted before the failure was seen still came back; none after it started.
    assert 2 not in got and set(got) >= {0, 1}


@pytest.mark.spark
def test_empty_task_list(spark_distributor):
    assert list(spark_distributor.map_unordered(_square, [])) == []


def test_missing_java_is_one_actionable_line(monkeypatch, tmp_path):
    pytest.importorskip("pyspark")

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DistributorUnavailable, match="openjdk-17-jre-headless"):
        check_spark_available()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(DistributorUnavailable, match=r"JAVA_HOME=.* has no bin/java"):
        check_spark_available()


def test_cli_without_java_or_with_a_stray_master(console_script, tmp_path):
    pytest.importorskip("pyspark")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"} | {"PATH": str(tmp_path)}
    res = subprocess.run([console_script, "shard", str(tmp_path), "--out", str(tmp_path / "s"), "--distributor",
                          "spark"], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "Error: --distributor spark needs Java (Spark runs on the JVM): install Java 17 (Debian/Ubuntu: apt-get "
        "install openjdk-17-jre-headless; macOS: brew install openjdk@17) or point JAVA_HOME at one"
    ]
    res = subprocess.run([console_script, "verify", str(tmp_path), "--spark-master", "spark://h:7077"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2 and "--spark-master is only used with --distributor spark" in res.stderr


def test_describe_failure_keeps_the_python_error():
    crashed = RuntimeError("Job aborted due to stage failure: Task 0 in stage 3.0 failed 4 times, most recent "
                           "failure: org.apache.spark.SparkException: Python worker exited unexpectedly (crashed)")
    assert describe_failure(crashed) == "the Python worker died (killed or crashed) (4 attempts)"
    raised = RuntimeError("An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
                          '  File "x.py", line 3, in f\nOSError: [Errno 28] No space left on device')
    assert describe_failure(raised) == "OSError: [Errno 28] No space left on device"


def test_start_failure_names_the_root_cause(tmp_path):
    log = tmp_path / "spark.log"
    log.write_text("WARNING: Using incubator modules\n26/11/21 WARN Utils: hostname resolves to loopback\n"
                   "org.apache.spark.SparkException: Exception thrown in awaitResult:\n\tat org.apache.Foo(Foo.scala:1)\n"
                   "Caused by: java.io.IOException: Failed to connect to /10.0.0.9:7077\n\tat io.netty.X(X.java:2)\n"
                   "Caused by: java.net.ConnectException: Connection refused\n26/11/21 WARN Drop UnregisterApplication\n")
    assert _last_line(log) == "java.io.IOException: Failed to connect to /10.0.0.9:7077"
    log.write_text("JAVA_HOME is not set\n")
    assert _last_line(log) == "JAVA_HOME is not set"
