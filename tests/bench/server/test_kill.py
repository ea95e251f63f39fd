"""Kill tests with real processes: `valor-bench serve` and its workers as a user starts them.

* A worker SIGKILLed in the middle of an evaluation: the server starts a new worker, the job is leased
  again when the lease expires, and it is scored exactly once.
* The server SIGKILLed in the middle of an upload: the partial file is deleted at the next start, no
  submission row exists for it, and every submission accepted before ends finished exactly once.
* A stop signal landing while a lease is taken hands the job back; a lease removes the private
  directories of runs that ended without cleaning up, and only those.
* A worker SIGKILLed at each moment of an AVC job (reading the upload, tokenizing, in METEOR, in CIDEr,
  recording the result; ``killpoints/sitecustomize.py`` stops it there): no process of the job survives
  it, not even as a zombie, no file of it is left (nothing in pycocoevalcap's package, nothing in the
  temp directory, its private directory removed at the next lease), and the job is scored once.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pycocoevalcap.tokenizer.ptbtokenizer as coco_ptb
import pytest
from sqlalchemy import select

from valor_bench.ground_truth import load_ground_truth
from valor_bench.remote import RemoteError, wait_until_up
from valor_bench.server import queue
from valor_bench.server.schema import events, submissions
from valor_bench.server.worker import Worker
from valor_data.web.database import Database

pytestmark = pytest.mark.timeout(300)
KILLPOINTS = Path(__file__).resolve().parent / "killpoints"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``valor-bench serve`` in its own process group (so the test can clean up every child by group id)."""

    def __init__(self, challenge: Path, data: Path, workers: int, log: Path, env: dict[str, str] | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "valor_bench.cli", "serve", "--challenge", str(challenge), "--data", str(data),
             "--port", str(self.port), "--workers", str(workers), "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        try:
            wait_until_up(self.url, 60, alive=lambda: self.proc.poll() is None)
        except RemoteError:
            raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}") from None

    def worker_pids(self) -> set[int]:
        pids = set()
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.update(int(c) for c in children)
        return pids

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the server's group: workers and their JVMs
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


def _register(url: str, name: str) -> str:
    r = httpx.post(f"{url}/api/v1/teams", json={"name": name}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def _upload(url: str, token: str, phase: str, task: str, path: Path) -> int:
    with open(path, "rb") as fh:
        r = httpx.post(f"{url}/api/v1/phases/{phase}/tasks/{task}/submissions", data={"model_name": path.stem},
                       files={"file": (path.name, fh)}, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _wait_status(db: Database, sids: list[int], wanted: set[str], timeout: float) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        with db.read() as conn:
            st = dict(conn.execute(select(submissions.c.id, submissions.c.status)
                                   .where(submissions.c.id.in_(sids))).all())
        if all(s in wanted for s in st.values()) or time.monotonic() > deadline:
            return st
        time.sleep(0.2)


def _event_counts(db: Database, sid: int) -> Counter:
    with db.read() as conn:
        return Counter(conn.execute(select(events.c.status).where(events.c.submission_id == sid)).scalars())


def test_worker_sigkilled_mid_evaluation_is_scored_once(tmp_path, gt_dir, avr_npz, avc_json, write_challenge):
    challenge, _host = write_challenge(tmp_path / "c", gt_dir, lease=2)
    data = tmp_path / "data"
    served = Served(challenge, data, workers=1, log=tmp_path / "serve.log")
    db = Database(f"sqlite:///{data / 'board.sqlite'}")
    try:
        gt = load_ground_truth(annotations=gt_dir / "val.json")
        a, b = _register(served.url, "alpha"), _register(served.url, "beta")
        avc = _upload(served.url, a, "val", "avc", avc_json(gt, tmp_path / "caps.json"))
        avr = _upload(served.url, b, "val", "avr", avr_npz(gt, tmp_path / "sims.npz"))
        st = _wait_status(db, [avc], {"running", "finished"}, 60)
        assert st[avc] == "running"  # AVC scoring starts two JVMs: seconds of work to interrupt
        time.sleep(0.5)
        victims = served.worker_pids()
        assert len(victims) == 1
        os.kill(victims.pop(), signal.SIGKILL)
        final = _wait_status(db, [avc, avr], {"finished", "failed"}, 180)
        assert final == {avc: "finished", avr: "finished"}, (final, (tmp_path / "serve.log").read_text()[-3000:])
        assert _event_counts(db, avc) == {"queued": 1, "running": 2, "finished": 1}
        assert _event_counts(db, avr)["finished"] == 1
        with db.read() as conn:
            row = conn.execute(select(submissions).where(submissions.c.id == avc)).one()
        assert row.attempts == 2 and row.runs == 1 and set(json.loads(row.result_json)["metrics"]) >= {"BLEU-4", "METEOR", "ROUGE-L", "CIDEr"}
        assert "exited with code -9; starting a new one" in (tmp_path / "serve.log").read_text()
    finally:
        served.close()
        db.dispose()


def test_server_sigkilled_mid_upload_loses_nothing_accepted(tmp_path, gt_dir, avr_npz, write_challenge):
    challenge, _host = write_challenge(tmp_path / "c", gt_dir)
    data = tmp_path / "data"
    served = Served(challenge, data, workers=0, log=tmp_path / "serve.log")
    gt = load_ground_truth(annotations=gt_dir / "val.json")
    try:
        token = _register(served.url, "alpha")
        accepted = [_upload(served.url, token, "val", "avr", avr_npz(gt, tmp_path / f"{i}.npz", seed=i))
                    for i in range(2)]
        big = avr_npz(gt, tmp_path / "partial.npz", seed=7)
        boundary = "kill-boundary"
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="model_name"\r\n\r\npartial\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="partial.npz"\r\n\r\n').encode()
        payload = big.read_bytes()
        body_len = len(head) + len(payload) + len(f"\r\n--{boundary}--\r\n")
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.sendall((f"POST /api/v1/phases/val/tasks/avr/submissions HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {body_len}\r\n\r\n").encode() + head + payload[: len(payload) // 2])
        incoming = data / "incoming"
        deadline = time.monotonic() + 20
        while not any(incoming.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.suffix for p in incoming.iterdir()] == [".part"]  # the upload is in flight
        served.kill()
        sock.close()
        served.close()
        served = Served(challenge, data, workers=0, log=tmp_path / "serve2.log")  # restart on the same data
        assert list(incoming.iterdir()) == []
        db = Database(f"sqlite:///{data / 'board.sqlite'}")
        try:
            with db.read() as conn:
                rows = dict(conn.execute(select(submissions.c.id, submissions.c.status)).all())
            assert rows == {accepted[0]: "queued", accepted[1]: "queued"}
            assert Worker(db, poll_seconds=0.05).run(exit_when_idle=True) == 2
            for sid in accepted:
                assert _event_counts(db, sid) == {"queued": 1, "running": 1, "finished": 1}
            r = httpx.get(f"{served.url}/api/v1/submissions/{accepted[0]}", headers={"Authorization": f"Bearer {token}"})
            assert r.json()["status"] == "finished"
        finally:
            db.dispose()
    finally:
        served.close()


def _worker_process(db_url: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "valor_bench.cli", "worker", "--db", db_url, "--poll", "0.1"],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_sigterm_hands_the_job_back_at_once(make_harness, tmp_path, avc_json):
    h = make_harness(lease=600)  # a long lease: only the hand-back can free the job quickly
    t = h.register("t")
    sid = h.upload(t, "val", "avc", avc_json(h.gt("val"), tmp_path / "c.json")).json()["id"]
    proc = _worker_process(h.db_url, tmp_path / "worker.log")
    try:
        assert _wait_status(h.state.db, [sid], {"running"}, 60)[sid] == "running"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        st = _wait_status(h.state.db, [sid], {"queued"}, 10)
        assert st[sid] == "queued"
        with h.state.db.read() as conn:
            row = conn.execute(select(submissions).where(submissions.c.id == sid)).one()
        assert row.attempts == 0 and row.lease_token is None
        assert list(_event_counts(h.state.db, sid).elements()).count("queued") == 2
    finally:
        _kill_group(proc)


def test_evaluation_over_the_timeout_fails_and_the_worker_exits(make_harness, tmp_path, avc_json):
    h = make_harness(lease=0.6, timeout=0.5)
    t = h.register("t")
    sid = h.upload(t, "val", "avc", avc_json(h.gt("val"), tmp_path / "c.json")).json()["id"]
    proc = _worker_process(h.db_url, tmp_path / "worker.log")
    try:
        assert proc.wait(60) == 75
        with h.state.db.read() as conn:
            row = conn.execute(select(submissions).where(submissions.c.id == sid)).one()
        assert row.status == "failed" and "longer than 0.5 s (eval_timeout_seconds) and was stopped" in row.error
        assert "evaluation took longer than" in row.error
        assert _event_counts(h.state.db, sid) == {"queued": 1, "running": 1, "failed": 1}
    finally:
        _kill_group(proc)


def test_a_stop_that_lands_while_a_lease_is_taken_hands_the_job_back(make_harness, tmp_path, avr_npz, monkeypatch):
    h = make_harness()
    sid = h.upload(h.register("t"), "val", "avr", avr_npz(h.gt("val"), tmp_path / "a.npz")).json()["id"]
    worker = Worker(h.state.db, poll_seconds=0.05)
    lease_next = queue.lease_next

    def leased_then_stopped(*args, **kwargs):  # SIGTERM between the lease's commit and `current` being set
        lease = lease_next(*args, **kwargs)
        worker.stop.set()
        return lease

    monkeypatch.setattr(queue, "lease_next", leased_then_stopped)
    assert worker.run() == 0
    with h.state.db.read() as conn:
        row = conn.execute(select(submissions).where(submissions.c.id == sid)).one()
    assert row.status == "queued" and row.attempts == 0 and row.lease_token is None


def test_a_lease_removes_the_directories_of_ended_runs_only(make_harness, tmp_path, avr_npz):
    h = make_harness()
    a, b = h.register("a"), h.register("b")
    live = h.upload(a, "val", "avr", avr_npz(h.gt("val"), tmp_path / "a.npz")).json()["id"]
    sid = h.upload(b, "val", "avr", avr_npz(h.gt("val"), tmp_path / "b.npz", seed=1)).json()["id"]
    assert queue.lease_next(h.state.db, "elsewhere", 600, 3).submission_id == live  # another worker's run
    scoring = tmp_path / "h0" / "data" / "scoring"
    for name in (f"{live}-1", f"{live}-0", f"{sid}-7", "99999-1", "junk"):  # only the first is a live run
        (scoring / name).mkdir(parents=True)
        (scoring / name / "ptb-x.txt").write_text("hidden references")
    assert Worker(h.state.db, poll_seconds=0.05).run(max_jobs=1, exit_when_idle=True) == 1
    assert _event_counts(h.state.db, sid)["finished"] == 1
    assert sorted(p.name for p in scoring.iterdir()) == [f"{live}-1"]  # this run's own directory is gone too
    assert stat.S_IMODE(scoring.stat().st_mode) == 0o700


# ------------------------------------------------------------------------------ a kill at each moment
MOMENTS = ("upload-read", "tokenizing", "meteor", "cider", "result")


def _tagged_processes(tag: str) -> dict[tuple[int, str], str]:
    """Every process (zombies included) started with ``VALOR_KILL_TEST=tag``: {(pid, start time): command}."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or f"VALOR_KILL_TEST={tag}".encode() not in (proc / "environ").read_bytes():
                continue
            found[(int(proc.name), _start_time(int(proc.name)))] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):  # gone meanwhile, or not ours to read
            continue
    return found


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def _still_there(procs: dict[tuple[int, str], str]) -> dict[tuple[int, str], str]:
    """The processes of ``procs`` that still exist, alive or zombie (same pid and start time)."""
    there = {}
    for (pid, started), cmd in procs.items():
        try:
            if _start_time(pid) == started:
                there[(pid, started)] = f"{cmd} [{Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]}]"
        except OSError:
            continue
    return there


def _files_holding(directory: Path, tag: str) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_file() and tag.encode() in p.read_bytes()]


def _tagged_ground_truth(gt_dir: Path, out: Path, tag: str) -> Path:
    """The hidden test phase's references, each carrying ``tag`` so that a copy of them is recognisable."""
    out.mkdir()
    (out / "val.json").write_text((gt_dir / "val.json").read_text())
    rows = json.loads((gt_dir / "test.json").read_text())
    for row in rows:
        row["desc"] = [f"{d} {tag}" for d in row["desc"]] if isinstance(row["desc"], list) else f"{row['desc']} {tag}"
    (out / "test.json").write_text(json.dumps(rows))
    return out


def _wait_for(path: Path, timeout: float, served: Served, log: Path) -> str:
    deadline = time.monotonic() + timeout
    while not path.is_file() or not path.read_text():
        assert time.monotonic() < deadline, f"never reached {path.name}: {log.read_text()[-3000:]}"
        assert served.proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.1)
    return path.read_text()


@pytest.mark.parametrize("moment", MOMENTS)
def test_worker_sigkilled_at_any_moment_leaves_nothing_behind(moment, tmp_path, gt_dir, avc_json, write_challenge):
    tag = f"zyxtag{uuid.uuid4().hex[:12]}"
    gt_tagged = _tagged_ground_truth(gt_dir, tmp_path / "gt", tag)
    challenge, _host = write_challenge(tmp_path / "c", gt_tagged, lease=2)
    data, pause, tmp = tmp_path / "data", tmp_path / "pause", tmp_path / "tmp"
    pause.mkdir()
    tmp.mkdir()
    log = tmp_path / "serve.log"
    env = {"VALOR_KILLPOINT": moment, "VALOR_KILLPOINT_DIR": str(pause), "VALOR_KILL_TEST": tag, "TMPDIR": str(tmp),
           "PYTHONPATH": os.pathsep.join([str(KILLPOINTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    served = Served(challenge, data, workers=1, log=log, env=env)
    db = Database(f"sqlite:///{data / 'board.sqlite'}")
    try:
        gt = load_ground_truth(annotations=gt_tagged / "test.json")
        token = _register(served.url, "alpha")
        sid = _upload(served.url, token, "test", "avc", avc_json(gt, tmp_path / "caps.json", f"a man sings {tag}"))
        paused = int(_wait_for(pause / "paused", 120, served, log))
        (worker,) = served.worker_pids()
        procs = {k: v for k, v in _tagged_processes(tag).items() if k[0] != served.proc.pid}
        jvms = {k for k, cmd in procs.items() if cmd.startswith("java ")}
        run_dir = data / "scoring" / f"{sid}-1"
        # The moment is real: what the job holds then exists.
        if moment != "result":
            assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
        if moment == "tokenizing":
            inputs = list(run_dir.glob("ptb-*"))
            assert inputs and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in inputs)
            assert any(tag in p.read_text() for p in inputs)
        if moment in ("tokenizing", "meteor", "cider"):
            assert any("meteor-1.5.jar" in procs[k] for k in jvms), procs
        if moment in ("tokenizing", "cider"):
            assert any("-m valor_bench.avc" in cmd for cmd in procs.values()), procs
        assert paused == worker or paused in {k[0] for k in procs}

        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _still_there(procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _still_there(procs) == {}, "survived the worker"
        for pid, _started in jvms:
            assert not Path(f"/tmp/hsperfdata_{getpass.getuser()}/{pid}").exists()

        final = _wait_status(db, [sid], {"finished", "failed"}, 180)
        assert final == {sid: "finished"}, (final, log.read_text()[-3000:])
        assert _event_counts(db, sid) == {"queued": 1, "running": 2, "finished": 1}
        with db.read() as conn:
            row = conn.execute(select(submissions).where(submissions.c.id == sid)).one()
        assert row.attempts == 2 and row.runs == 1 and "CIDEr" in json.loads(row.result_json)["metrics"]
        assert list((data / "scoring").iterdir()) == []  # the killed run's directory went at the next lease
        assert _files_holding(Path(coco_ptb.__file__).parent, tag) == []
        assert list(tmp.iterdir()) == []
        left = {cmd for k, cmd in _tagged_processes(tag).items() if k[0] != served.proc.pid}
        assert len(left) == 1 and "valor_bench.cli worker" in left.pop()  # the restarted worker, idle, with no child
        assert len(served.worker_pids()) == 1  # and no zombie under the server, the orphans' subreaper
    finally:
        served.close()
        db.dispose()
