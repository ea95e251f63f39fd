"""Resumability: SIGKILL `fetch` at several points, rerun the same command, every clip exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import av
import pyarrow.parquet as pq
import pytest

from valor_data.clip import ClipRef
from valor_data.fetch.filters import build_filters
from valor_data.fetch.journal import Journal, encode_record, read_journal
from valor_data.fetch.plan import FetchOptions, plan_tasks
from valor_data.fetch.process import download_clip, finish_clip
from valor_data.fetch.run import run_fetch, run_task
from valor_data.fetch.sources import DownloadOptions, make_source

EXPECTED = {
    "-okAAAAAAA1": "ok", "ok_BBBBBBB2": "ok", "f404JJJJJ10": "ok", "f429KKKKK11": "ok",
    "silentEEEE5": "silent", "frozenFFFF6": "frozen", "noaudioCCC3": "no_audio", "missingOO15": "unavailable",
}
N_TASKS = 4  # 8 clips, --task-size 2


@pytest.fixture(scope="module")
def resume_ids(tmp_path_factory, spec):
    path = tmp_path_factory.mktemp("resume") / "ids.txt"
    path.write_text("\n".join(spec.clip_id(y) for y in EXPECTED) + "\n")
    return path


def _parts(out: Path) -> int:
    return len(list((out / "_tasks").glob("*.parquet"))) if (out / "_tasks").is_dir() else 0


KILL_POINTS = {
    # a clip is being downloaded/normalised in a worker
    "mid-clip": lambda out: (out / "_work").is_dir() and any((out / "_work").rglob("*.mp4*")),
    # some clips of an unfinished task are journaled
    "mid-task": lambda out: (out / "_tasks").is_dir() and any(read_journal(j)[0] for j in (out / "_tasks").glob("*.journal")),
    # some tasks are done, others not
    "between-tasks": lambda out: 1 <= _parts(out) < N_TASKS,
}


def _check_finished(out: Path) -> None:
    """Every clip exactly once, its files complete and decodable, nothing partial left anywhere."""
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert sorted(r["ytid"] for r in rows) == sorted(EXPECTED)  # exactly once each
    assert {r["ytid"]: r["status"] for r in rows} == EXPECTED
    referenced = set()
    for r in rows:
        if r["status"] != "ok":
            continue
        for col, size_col in (("video_path", "video_bytes"), ("audio_path", "audio_bytes")):
            path = out / r[col]
            assert path.stat().st_size == r[size_col]
            referenced.add(r[col])
            with av.open(str(path)) as c:  # decodes to the end: complete
                frames = sum(1 for _ in c.decode(c.streams[0]))
                assert frames > 0 and c.duration / 1e6 == pytest.approx(3.0, abs=0.1)
    on_disk = {p.relative_to(out).as_posix() for p in (out / "clips").rglob("*") if p.is_file()}
    assert on_disk == referenced  # no stray or partial file
    leftovers = [p for p in out.rglob("*") if p.name.endswith((".tmp", ".part", ".journal"))]
    assert leftovers == [] and not (out / "_work").exists()
    assert _parts(out) == N_TASKS


@pytest.mark.parametrize(("point", "source", "kill_group"), [
    ("mid-clip", "local", False),
    ("mid-task", "mirror", True),
    ("between-tasks", "local", False),
])
def test_sigkill_then_rerun(tmp_path, console_script, resume_ids, source_dir, mirror_server, point, source,
                            kill_group):
    out = tmp_path / "out"
    where = (["--source", "local", "--video-dir", str(source_dir)] if source == "local"
             else ["--source", "mirror", "--url-template", mirror_server.url_template])
    cmd = [console_script, "fetch", str(resume_ids), "--out", str(out), *where, "--workers", "2",
           "--task-size", "2", "--retries", "0", "--no-progress", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while not KILL_POINTS[point](out):
            assert proc.poll() is None, f"fetch finished before the kill point {point!r}"
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.005)
        if kill_group:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole job dies at once
        else:
            os.kill(proc.pid, signal.SIGKILL)  # only the parent: its pool workers must not outlive it
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "manifest.parquet").exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["tasks"] == N_TASKS and summary["rows"] == len(EXPECTED)
    _check_finished(out)
    if point == "between-tasks":
        assert summary["tasks_done_before"] >= 1


def test_partial_files_are_never_taken_as_done(tmp_path, source_dir):
    """An interrupted task: one clip journaled, a renamed-in but unjournaled file, a journal row whose file
    was cut short, a journal record torn by the kill. The rerun keeps only the first and redoes the rest."""
    opts = FetchOptions(download=DownloadOptions(source="local", video_dir=str(source_dir)))
    clips = [ClipRef.from_clip_id(f"{y}_0.500_3.500") for y in ("-okAAAAAAA1", "f404JJJJJ10", "ok_BBBBBBB2")]
    (task,) = plan_tasks(clips, tmp_path / "out", opts, task_size=3)
    source, filters = make_source(opts.download), build_filters()
    first = finish_clip(download_clip(task.clips[0], task, source), task, filters)
    third = finish_clip(download_clip(task.clips[2], task, source), task, filters)
    task.journal_path.parent.mkdir(parents=True)
    with Journal(task.journal_path) as journal:
        journal.append(first)
        journal.append(third)
    v3 = task.out / third["video_path"]
    v3.write_bytes(v3.read_bytes()[:1000])  # cut short after its row was written: size no longer matches
    video2, audio2 = (task.out / p for p in task.media_paths(task.clips[1]))
    video2.write_bytes(b"half a video")  # renamed in, killed before its journal row
    second = {**first, "key": task.clips[1].key, "video_path": str(video2.relative_to(task.out))}
    with open(task.journal_path, "ab") as f:
        f.write(encode_record(second)[:-30])  # its record cut short by the kill
    (task.work_dir / "leftover").mkdir(parents=True)
    (task.work_dir / "leftover" / "segment.mp4.part").write_bytes(b"x")

    result = run_task(task)
    assert result.resumed == 1 and result.counts == {"ok": 3}
    rows = pq.read_table(task.part_path).to_pylist()
    assert [r["key"] for r in rows] == [c.key for c in task.clips]
    for r in rows:
        for col, size_col in (("video_path", "video_bytes"), ("audio_path", "audio_bytes")):
            assert (task.out / r[col]).stat().st_size == r[size_col] > 1000
    assert not task.journal_path.exists() and not task.work_dir.exists()
    done_at = task.part_path.stat().st_mtime_ns
    again = run_task(task)  # idempotent: the part manifest is the done-marker
    assert (again.counts, again.resumed) == ({"ok": 3}, 0) and task.part_path.stat().st_mtime_ns == done_at


def test_temporaries_of_writers_killed_mid_write_are_removed(tmp_path, source_dir):
    """A part manifest or config cut short by SIGKILL is left under its writer's pid-named temporary: the
    rerun's own writes never overwrite it, so the finished run deletes it."""
    out = tmp_path / "out"
    (out / "_tasks").mkdir(parents=True)
    stale = [out / "_tasks" / "00000.parquet.deadhost-4242.tmp", out / "fetch_config.json.deadhost-4242.tmp",
             out / "manifest.parquet.deadhost-4243.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    opts = FetchOptions(download=DownloadOptions(source="local", video_dir=str(source_dir)))
    clips = [ClipRef.from_clip_id("-okAAAAAAA1_0.500_3.500")]
    summary = run_fetch(clips, [], out, opts)
    assert summary.counts == {"ok": 1}
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
