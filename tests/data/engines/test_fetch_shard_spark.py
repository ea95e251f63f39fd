"""fetch -> shard -> verify with `--distributor spark` on a local[2] session, a Python worker killed in the
middle of a fetch task included: the same manifest (modulo timings) and byte-identical shards and index as
the default multiprocessing run on the same input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.fetch.journal import read_journal

pytestmark = pytest.mark.spark
TIMING = ("download_s", "process_s", "attempts")


def manifest_rows(path: Path) -> list[dict]:
    """The manifest without its timing columns (they differ from run to run)."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in pq.read_table(path).to_pylist()]


def tar_digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.glob("*.tar"))}


def _children_ffmpeg(marker: str) -> list[tuple[int, int]]:
    """(pid, parent pid) of the running ffmpeg processes whose command line mentions ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if not argv or os.path.basename(argv[0]) != b"ffmpeg" or not any(marker.encode() in a for a in argv):
                continue
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            found.append((int(entry), ppid))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _is_spark_python_worker(pid: int) -> bool:
    try:
        return b"pyspark" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def kill_worker_mid_task(out: Path, stop: threading.Event, killed: dict) -> None:
    """Once a task has journaled a clip and its Python worker runs ffmpeg for another one, SIGKILL that
    worker and its ffmpeg, as an executor crash or the OOM killer would."""
    while not stop.is_set() and not killed:
        for journal in sorted((out / "_tasks").glob("*.journal")) if (out / "_tasks").is_dir() else []:
            task = journal.name.split(".")[0]
            journaled = len(read_journal(journal)[0])
            if not journaled:
                continue
            for pid, ppid in _children_ffmpeg(f"{out}/_work/{task}/"):
                if _is_spark_python_worker(ppid):
                    for victim in (ppid, pid):
                        try:
                            os.kill(victim, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    killed.update(task=task, worker=ppid, journaled=journaled)
                    return
        time.sleep(0.005)


@pytest.fixture(scope="module")
def spark_fetch(spark_distributor, spark_ids, spark_mirror, spark_spec, tmp_path_factory):
    """`valor-data fetch --distributor spark` (the session of the fixture is reused) with one Python
    worker killed mid-task; returns (out, summary, what was killed)."""
    out = tmp_path_factory.mktemp("spark_fetch") / "fetch"
    stop, killed = threading.Event(), {}
    watcher = threading.Thread(target=kill_worker_mid_task, args=(out, stop, killed), daemon=True)
    watcher.start()
    try:
        res = CliRunner().invoke(main, [
            "fetch", str(spark_ids), "--out", str(out), "--source", "mirror", "--url-template",
            spark_mirror.url_template, "--workers", "2", "--task-size", str(spark_spec.TASK_SIZE),
            "--min-duration", "1", "--distributor", "spark", "--no-progress", "--json"])  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    assert res.exit_code == 0, res.output
    return out, json.loads(res.stdout), killed


def test_killed_worker_task_is_retried_and_resumed(spark_fetch, spark_spec):
    out, summary, killed = spark_fetch
    assert killed, "no worker was killed mid-task: the kill point was never reached"
    assert summary["clips_resumed"] >= killed["journaled"] >= 1  # the retry kept the clips journaled before
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert sorted(r["ytid"] for r in rows) == sorted(spark_spec.CLIPS)  # every clip exactly once
    assert sorted(r["ytid"] for r in rows if r["status"] == "ok") == spark_spec.OK
    referenced = {r[c] for r in rows if r["status"] == "ok" for c in ("video_path", "audio_path")}
    on_disk = {p.relative_to(out).as_posix() for p in (out / "clips").rglob("*") if p.is_file()}
    assert on_disk == referenced  # nothing partial or stray left by the killed attempt
    assert not (out / "_work").exists() and not list((out / "_tasks").glob("*.journal"))
    assert not list((out / "_tasks").glob("*.lock"))


def test_same_manifest_as_process_pool(spark_fetch, reference_fetch, spark_spec):
    out, summary, _ = spark_fetch
    assert summary["tasks"] == spark_spec.N_TASKS
    assert manifest_rows(out / "manifest.parquet") == manifest_rows(reference_fetch / "manifest.parquet")
    for rel in (r["video_path"] for r in pq.read_table(out / "manifest.parquet").to_pylist() if r["video_path"]):
        assert (out / rel).read_bytes() == (reference_fetch / rel).read_bytes()


def test_same_shards_as_process_pool_and_verify(spark_fetch, reference_shards):
    out = spark_fetch[0].parent / "shards"
    res = CliRunner().invoke(main, ["shard", str(spark_fetch[0]), "--out", str(out), "--shard-size", "2",
                                    "--distributor", "spark", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["shards_written"] == len(tar_digests(reference_shards)) == 3
    assert tar_digests(out) == tar_digests(reference_shards)
    assert (out / "index.parquet").read_bytes() == (reference_shards / "index.parquet").read_bytes()
    assert manifest_rows(out / "manifest.parquet") == manifest_rows(reference_shards / "manifest.parquet")
    assert json.loads((out / "stats.json").read_text()) == json.loads((reference_shards / "stats.json").read_text())

    res = CliRunner().invoke(main, ["verify", str(out), "--distributor", "spark", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ok"] is True

    # A rerun finds every shard done and rewrites nothing.
    res = CliRunner().invoke(main, ["shard", str(spark_fetch[0]), "--out", str(out), "--shard-size", "2",
                                    "--distributor", "spark", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["shards_skipped"] == 3
