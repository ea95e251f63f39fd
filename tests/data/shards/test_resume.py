"""SIGKILL `valor-data shard` at several points; the rerun ends with every ok clip in exactly one shard
and tars byte-identical to an uninterrupted run.

The subprocess runs the real CLI with TarWriter.write (and, for one kill point, the final index write)
slowed down by a monkeypatch, so that each kill lands where the test says it does.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.shards.verify import verify_dir

SHARD_SIZE = "2"

WRAPPER = """
import sys, time
import webdataset
import valor_data.shards.run as shard

_write = webdataset.TarWriter.write
def slow_write(self, obj):
    size = _write(self, obj)
    time.sleep({sample_delay})  # after the write: the partial tar on disk holds this sample
    return size
webdataset.TarWriter.write = slow_write

_outputs = shard.write_outputs
def slow_outputs(*args, **kwargs):
    time.sleep({outputs_delay})
    return _outputs(*args, **kwargs)
shard.write_outputs = slow_outputs

from valor_data.cli import main
main(sys.argv[1:])
"""


def digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.glob("*.tar"))}


def markers(d: Path) -> list[Path]:
    return sorted(d.glob("valor-*.stats.json"))


def start(
    src: Path, out: Path, workers: int = 2, sample_delay: float = 0.3, outputs_delay: float = 0.0
) -> subprocess.Popen:
    code = WRAPPER.format(sample_delay=sample_delay, outputs_delay=outputs_delay)
    args = ["shard", str(src), "--out", str(out), "--shard-size", SHARD_SIZE, "--workers", str(workers), "--json"]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes the pool workers too
    )


def kill_when(proc: subprocess.Popen, condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"shard exited (rc {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    wait_for_group_exit(proc.pid)


def wait_for_group_exit(pgid: int, timeout: float = 10) -> None:
    """The pool workers die a moment after the parent; the lock they inherited is free once they have."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # process group, state (zombies hold no files)
                alive.append(status.parent.name)
        if not alive:
            return
        time.sleep(0.01)
    raise AssertionError(f"processes of group {pgid} still alive after SIGKILL")


def check_finished(out: Path, reference: Path, fetch_dir: Path) -> dict:
    """Rerun to completion; the result must equal the uninterrupted run."""
    res = CliRunner().invoke(main, ["shard", str(fetch_dir), "--out", str(out), "--shard-size", SHARD_SIZE, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["samples"] == 7
    assert digests(out) == digests(reference) and len(digests(out)) == 4
    assert pq.read_table(out / "index.parquet").equals(pq.read_table(reference / "index.parquet"))
    assert (out / "stats.json").read_text() == (reference / "stats.json").read_text()
    ok = sorted(r["key"] for r in pq.read_table(fetch_dir / "manifest.parquet").to_pylist() if r["status"] == "ok")
    shards_per_key: dict[str, set[str]] = {}
    for row in pq.read_table(out / "index.parquet").to_pylist():
        shards_per_key.setdefault(row["key"], set()).add(row["shard"])
    assert sorted(shards_per_key) == ok and all(len(s) == 1 for s in shards_per_key.values())
    assert not list(out.glob("*.tmp")), "partial files of the killed runs are cleaned up"
    report = verify_dir(out, "serial")
    assert report.ok, report.problems
    return summary


@pytest.fixture(scope="module")
def reference(fetch_dir_template, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "shards"
    res = CliRunner().invoke(main, ["shard", str(fetch_dir_template), "--out", str(out), "--shard-size", SHARD_SIZE])
    assert res.exit_code == 0, res.output
    return out


def test_sigkill_after_first_shard_and_mid_tar_then_rerun(fetch_dir_template, reference, tmp_path):
    out = tmp_path / "killed"
    # 1. The process pool is killed right after the first shard's done-marker appears.
    proc = start(fetch_dir_template, out, workers=2)
    kill_when(proc, lambda: len(markers(out)) >= 1, "the first done-marker")
    assert 1 <= len(markers(out)) < 4 and not (out / "index.parquet").exists()

    # 2. The rerun (one shard at a time, in its main process, 1 s per sample) is killed in the middle of a
    # tar: its partial temporary file ({shard}.tar.{host}-{pid}.tmp) holds a sample and has no marker.
    proc = start(fetch_dir_template, out, workers=1, sample_delay=1.0)

    def own_partials() -> list[Path]:
        return [p for p in out.glob(f"*.tar.*-{proc.pid}.tmp") if p.exists() and p.stat().st_size > 0]

    kill_when(proc, lambda: bool(own_partials()), "the second run writing a tar")
    undone = [p for p in own_partials() if not (out / (p.name.split(".tar.")[0] + ".stats.json")).exists()]
    assert undone, "the kill should have left a partial tar of a shard that is not done"
    markers_before_last = markers(out)
    assert len(markers(out)) < 4 and not (out / "index.parquet").exists()

    summary = check_finished(out, reference, fetch_dir_template)
    assert summary["shards_skipped"] == len(markers_before_last) and summary["shards_written"] >= 1
    assert summary["shards_skipped"] + summary["shards_written"] == 4


def test_sigkill_after_all_shards_before_the_index(fetch_dir_template, reference, tmp_path):
    out = tmp_path / "killed"
    proc = start(fetch_dir_template, out, sample_delay=0.0, outputs_delay=30.0)
    kill_when(proc, lambda: len(markers(out)) == 4, "all four done-markers")
    assert not (out / "index.parquet").exists() and not (out / "stats.json").exists()
    summary = check_finished(out, reference, fetch_dir_template)
    assert (summary["shards_skipped"], summary["shards_written"]) == (4, 0)
