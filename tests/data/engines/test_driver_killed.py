"""The Spark driver (`valor-data fetch --distributor spark`) SIGKILLed mid-run; the same command run again
resumes: finished tasks are skipped, every clip ends up exactly once, the manifest is the default run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.fetch.journal import read_journal

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a second JVM starts: ~30 s on 2 loaded cores
TIMING = ("download_s", "process_s", "attempts")


def _parts(out: Path) -> int:
    return len(list((out / "_tasks").glob("*.parquet"))) if (out / "_tasks").is_dir() else 0


def _journaled(out: Path) -> bool:
    return (out / "_tasks").is_dir() and any(read_journal(j)[0] for j in (out / "_tasks").glob("*.journal"))


def test_driver_killed_then_rerun_resumes(tmp_path, console_script, spark_distributor, spark_ids, spark_mirror,
                                          spark_spec, reference_fetch):
    out = tmp_path / "fetch"
    args = ["fetch", str(spark_ids), "--out", str(out), "--source", "mirror", "--url-template",
            spark_mirror.url_template, "--workers", "2", "--task-size", str(spark_spec.TASK_SIZE),
            "--min-duration", "1", "--distributor", "spark", "--no-progress", "--json"]  # fmt: skip
    # Its own driver and JVM (a second local session), killed once some clips are done but not all tasks.
    proc = subprocess.Popen([console_script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while not (_journaled(out) and _parts(out) < spark_spec.N_TASKS):
            assert proc.poll() is None, f"fetch ended before the kill point: {proc.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its JVM and Python workers must not spoil the rerun
    finally:
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    assert not (out / "manifest.parquet").exists()
    done_before = _parts(out)

    # The rerun (on the tests' session) waits for any task an orphaned worker still holds, then finishes.
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["tasks"] == spark_spec.N_TASKS and summary["rows"] == len(spark_spec.CLIPS)
    assert summary["tasks_done_before"] >= done_before

    def rows(path: Path) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in pq.read_table(path).to_pylist()]

    assert rows(out / "manifest.parquet") == rows(reference_fetch / "manifest.parquet")  # each clip once
    referenced = {r[c] for r in rows(out / "manifest.parquet") if r["status"] == "ok" for c in ("video_path", "audio_path")}
    assert {p.relative_to(out).as_posix() for p in (out / "clips").rglob("*") if p.is_file()} == referenced
    assert not (out / "_work").exists() and not list((out / "_tasks").glob("*.journal"))
