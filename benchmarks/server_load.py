"""Load on `valor-bench serve`: 40 teams upload 120 submissions at once (AVR 3,491 x 3,491 `.npz` and AVC
captions JSON on the real VALOR-32K test split) to a server with 2 workers, and one worker is SIGKILLed
while it scores. Checks that every submission is scored exactly once and nothing is lost, and reports:

* upload-accept latency p50 / p95 (request start -> 201), per kind and overall;
* submissions per minute (first upload to last result) and the end-to-end time;
* peak RSS of the web process and of each worker (python alone, and with the JVMs it starts);

with two baselines measured in the same run: `valor-bench evaluate` of one AVR and one AVC file (the ideal
throughput of 2 workers that only score), and copying + hashing one AVR file locally (what an upload must
at least cost).

    .venv/bin/python benchmarks/server_load.py [--teams 40] [--submissions 120] [--avc-share 0.33]
        [--workers 2] [--lease 15] [--keep DIR] [--uploads-only [--rounds 1]]

``--uploads-only`` measures the upload path alone: the bare sink and the server with no worker running,
the same uploads to each, and their ratio (the web kit's goal: within 1.3x of the sink); on a shared
machine, take the median of a few ``--rounds``.

The machine's load average is printed at the start and the end: the figures move with it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from valor_bench.ground_truth import load_ground_truth  # noqa: E402
from valor_bench.remote import RemoteError, wait_until_up  # noqa: E402
from valor_bench.server.schema import events, submissions  # noqa: E402
from valor_data.web.database import Database  # noqa: E402


def proc_status(pid: int, field: str) -> int:
    """VmRSS / VmHWM of a process in bytes (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_thread(pid: int) -> Counter:
    """CPU seconds per thread name of a process (``upload-writer_0`` and ``_1`` counted as ``upload-writer``;
    the main thread, which runs the event loop, under the process's name)."""
    out: Counter = Counter()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            name, fields = (task / "stat").read_text().split("(", 1)[1].rsplit(")", 1)
        except OSError:
            continue
        fields = fields.split()
        label = "event loop" if task.name == str(pid) else name.rstrip("0123456789").rstrip("_ ")
        out[label] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def children(pid: int) -> list[int]:
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


class RssSampler(threading.Thread):
    """Every 0.5 s: the server's peak RSS, each worker's peak (python alone and with its JVM children)."""

    def __init__(self, server_pid: int):
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.stop = threading.Event()
        self.server_peak = 0
        self.worker_peak: dict[int, int] = {}
        self.worker_tree_peak: dict[int, int] = {}

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.server_peak = max(self.server_peak, proc_status(self.server_pid, "VmHWM"))
            for w in children(self.server_pid):
                self.worker_peak[w] = max(self.worker_peak.get(w, 0), proc_status(w, "VmHWM"))
                total = sum(proc_status(p, "VmRSS") for p in tree(w))
                self.worker_tree_peak[w] = max(self.worker_tree_peak.get(w, 0), total)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def make_files(out: Path, gt, n_avr: int, n_avc: int) -> list[tuple[str, Path]]:
    """Distinct submissions: AVR matrices whose true pair scores high for a random share of the texts,
    AVC captions that drop ~30 % of a reference's words."""
    files = []
    text_video, video_ids = gt.text_video(), list(gt.video_ids)
    col = np.array([video_ids.index(v) for v in text_video])
    text_ids = np.array(gt.text_ids())
    for i in range(n_avr):
        rng = np.random.default_rng(i)
        sim = rng.random((len(text_video), len(video_ids)), dtype=np.float32)
        hit = rng.random(len(text_video)) < rng.uniform(0.2, 0.9)
        sim[np.arange(len(col))[hit], col[hit]] = 1.5
        path = out / f"avr_{i:03d}.npz"
        np.savez(path, sim=sim, text_ids=text_ids, video_ids=np.array(video_ids))
        files.append(("avr", path))
    for i in range(n_avc):
        rng = random.Random(i)
        caps = []
        for v in video_ids:
            words = gt.captions[v][0].split()
            caps.append({"video_id": v, "caption": " ".join(w for w in words if rng.random() > 0.3) or words[0]})
        path = out / f"avc_{i:03d}.json"
        path.write_text(json.dumps(caps))
        files.append(("avc", path))
    return files


SINK_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def sink(request):
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
    return JSONResponse({"id": n}, status_code=201)

app = Starlette(routes=[Route("/{path:path}", sink, methods=["POST"])])
"""


def upload_all(url: str, tokens: list[str], per_team: dict[int, list[tuple[str, Path]]],
               path_of: Callable[[str], str]) -> tuple[list[tuple[str, float]], list[int], float]:
    """Each team's files uploaded one after the other, all teams at once; (kind, seconds) per upload, the
    returned ids, and the wall time."""
    latencies: list[tuple[str, float]] = []
    ids: list[int] = []
    lock = threading.Lock()

    def team_client(i: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[i]}"},
                          timeout=httpx.Timeout(900.0)) as client:
            for kind, path in per_team[i]:
                started = time.perf_counter()
                with open(path, "rb") as fh:  # the raw upload `valor-bench submit --server` sends
                    r = client.post(path_of(kind), params={"filename": path.name, "model_name": f"{path.stem} of team {i}",
                                                           "modality": "av"},
                                    content=fh, headers={"Content-Type": "application/octet-stream"})
                elapsed = time.perf_counter() - started
                if r.status_code != 201:
                    raise RuntimeError(f"{path.name}: HTTP {r.status_code}: {r.text}")
                with lock:
                    latencies.append((kind, elapsed))
                    ids.append(r.json()["id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        list(pool.map(team_client, range(len(tokens))))
    return latencies, ids, time.perf_counter() - started


def baseline_sink(work: Path, per_team: dict[int, list[tuple[str, Path]]]) -> tuple[list[tuple[str, float]], float,
                                                                                    float]:
    """The same uploads, at the same concurrency, to a bare Starlette app under uvicorn that reads the body and
    discards it: what HTTP alone costs on this machine now. Returns the latencies, the wall time and the CPU
    seconds the sink used for them."""
    (work / "sink_app.py").write_text(SINK_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "sink_app:app", "--port", str(port), "--log-level",
                             "warning"], cwd=work)
    try:
        wait_until_up_sink(f"http://127.0.0.1:{port}", proc)
        cpu = cpu_seconds(proc.pid)
        latencies, _ids, wall = upload_all(f"http://127.0.0.1:{port}", ["sink"] * len(per_team), per_team,
                                           lambda kind: "/")
        cpu = cpu_seconds(proc.pid) - cpu
    finally:
        proc.terminate()
        proc.wait(30)
    return latencies, wall, cpu


def write_challenge(directory: Path, lease: float) -> Path:
    """The example challenge with limits and the rate limit raised for the load (and a shorter lease)."""
    subprocess.run([sys.executable, "-m", "valor_bench.cli", "challenge", "init", str(directory)], check=True,
                   capture_output=True)
    cfile = directory / "challenge.yaml"
    text = cfile.read_text().replace("lease_seconds: 60", f"lease_seconds: {lease:g}")
    text = text.replace("limits: {per_day: 2, per_month: 20, total: 50}", "limits: {per_day: 50, total: 500}")
    text = text.replace("rate_limit_requests: 120", "rate_limit_requests: 100000")
    cfile.write_text(text)
    return cfile


def start_server(cfile: Path, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "valor_bench.cli", "serve", "--challenge", str(cfile), "--port",
                             str(port), "--workers", str(workers), "--log-level", "warning"],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, 120, alive=lambda: proc.poll() is None)
    except RemoteError:
        raise SystemExit(f"serve did not start: {log.read_text()[-2000:]}") from None
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def register(url: str, teams: int) -> list[str]:
    return [httpx.post(f"{url}/api/v1/teams", json={"name": f"team {i:02d}"}).json()["token"] for i in range(teams)]


def baseline_server_alone(work: Path, per_team: dict[int, list[tuple[str, Path]]],
                          lease: float) -> tuple[float, float, Counter]:
    """The same uploads to a second server with no worker running: the upload path without CPU contention.
    Returns the wall time, the CPU seconds the web process used for them, and those per thread name."""
    proc, url = start_server(write_challenge(work / "alone", lease), 0, work / "alone.log")
    try:
        tokens = register(url, len(per_team))
        cpu, threads = cpu_seconds(proc.pid), cpu_by_thread(proc.pid)
        _lat, _ids, wall = upload_all(url, tokens, per_team,
                                      lambda kind: f"/api/v1/phases/test/tasks/{kind}/submissions")
        cpu, threads = cpu_seconds(proc.pid) - cpu, cpu_by_thread(proc.pid) - threads
    finally:
        stop_server(proc)
        shutil.rmtree(work / "alone", ignore_errors=True)
    return wall, cpu, threads


def wait_until_up_sink(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            httpx.post(url, content=b"", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the sink baseline server did not start")


def baseline_evaluate(path: Path, task: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "valor_bench.cli", "evaluate", str(path), "--task", task, "--split", "test",
                    "--json"], check=True, capture_output=True)
    return time.perf_counter() - started


def baseline_copy(path: Path, out: Path) -> float:
    started = time.perf_counter()
    h = hashlib.sha256()
    with open(path, "rb") as src, open(out, "wb") as dst:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    out.unlink()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teams", type=int, default=40)
    ap.add_argument("--submissions", type=int, default=120)
    ap.add_argument("--avc-share", type=float, default=1 / 3, help="share of AVC submissions (the rest AVR)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lease", type=float, default=15.0, help="lease seconds (a killed worker's job waits this long)")
    ap.add_argument("--kill-after", type=int, default=10, help="SIGKILL a busy worker after this many results")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temporary one)")
    ap.add_argument("--uploads-only", action="store_true",
                    help="only the bare sink and the server with no worker: the upload path's cost, no scoring")
    ap.add_argument("--rounds", type=int, default=1, help="--uploads-only: rounds of sink, server, sink")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress lines reach a log file as they happen
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")

    work = args.keep or Path(tempfile.mkdtemp(prefix="valor-server-load-"))
    work.mkdir(parents=True, exist_ok=True)
    gt = load_ground_truth("test")
    n_avc = round(args.submissions * args.avc_share)
    n_avr = args.submissions - n_avc
    t0 = time.perf_counter()
    files = make_files(work, gt, n_avr, n_avc)
    print(f"made {n_avr} AVR ({gt.n_texts:,} x {gt.n_clips:,} float32, "
          f"{files[0][1].stat().st_size / 1e6:.1f} MB each) and {n_avc} AVC files in {time.perf_counter() - t0:.0f} s")

    random.Random(0).shuffle(files)
    per_team: dict[int, list[tuple[str, Path]]] = {i: [] for i in range(args.teams)}
    for j, f in enumerate(files):
        per_team[j % args.teams].append(f)
    if args.uploads_only:
        uploads_only(work, per_team, args)
        return
    print("baselines: valor-bench evaluate of one AVR and one AVC file, local copy + sha256 of one AVR file, "
          "the same uploads to a bare Starlette sink")
    t_avr = baseline_evaluate(next(p for k, p in files if k == "avr"), "avr")
    t_avc = baseline_evaluate(next(p for k, p in files if k == "avc"), "avc") if n_avc else 0.0
    t_copy = baseline_copy(next(p for k, p in files if k == "avr"), work / "copy.tmp")
    sink = baseline_sink(work, per_team)
    alone = baseline_server_alone(work, per_team, args.lease)
    server, url = start_server(write_challenge(work / "challenge", args.lease), args.workers, work / "serve.log")
    try:
        run(args, url, server, work, per_team, (t_avr, t_avc, t_copy, sink, alone), n_avr, n_avc)
    finally:
        stop_server(server)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def uploads_only(work: Path, per_team: dict[int, list[tuple[str, Path]]], args) -> None:
    """Rounds of: the sink, the server with no worker, the sink again (the machine's load drifts, so each
    round's ratio is taken against the mean of its two sink runs); the median ratio is the figure."""
    total_mb = sum(p.stat().st_size for files in per_team.values() for _, p in files) / 1e6
    ratios = []
    try:
        for i in range(args.rounds):
            _lat, sink1, cpu1 = baseline_sink(work, per_team)
            alone, cpu, threads = baseline_server_alone(work, per_team, args.lease)
            _lat, sink2, cpu2 = baseline_sink(work, per_team)
            sink = (sink1 + sink2) / 2
            ratios.append(alone / sink)
            print(f"round {i + 1}: bare Starlette sink {sink1:.1f} s and {sink2:.1f} s ({total_mb / sink:.0f} MB/s, "
                  f"{(cpu1 + cpu2) / 2:.1f} CPU s); server, no worker running {alone:.1f} s ({total_mb / alone:.0f} "
                  f"MB/s, {cpu:.1f} CPU s) = {alone / sink:.2f}x the sink; load average {os.getloadavg()[0]:.2f}")
            print("    server CPU by thread: " + ", ".join(f"{name} {sec:.1f} s" for name, sec in threads.most_common()))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'server / sink, median':32s} {float(np.median(ratios)):.2f}x over {len(ratios)} round(s) "
          f"({', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def run(args, url, server, work, per_team, baselines, n_avr, n_avc) -> None:
    t_avr, t_avc, t_copy, (sink_latencies, sink_wall, _sink_cpu), (alone_wall, _alone_cpu, _threads) = baselines
    sampler = RssSampler(server.pid)
    sampler.start()
    tokens = register(url, args.teams)
    db = Database(f"sqlite:///{work / 'challenge' / 'data' / 'board.sqlite'}")
    killed: dict = {}

    def killer() -> None:
        while not killed.get("done"):
            with db.read() as conn:
                done = conn.execute(submissions.select().with_only_columns(submissions.c.id)
                                    .where(submissions.c.status.in_(("finished", "failed")))).all()
                running = conn.execute(submissions.select().where(submissions.c.status == "running")).all()
            if len(done) >= args.kill_after and running:
                victim = running[0]
                pid = int(victim.lease_owner.rsplit(":", 1)[1])
                if pid in children(server.pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.update(pid=pid, submission=victim.id, task=victim.task, at=time.perf_counter())
                    print(f"SIGKILLed worker {pid} while it scored submission #{victim.id} ({victim.task.upper()}), "
                          f"after {len(done)} results")
                    return
            time.sleep(0.2)

    kill_thread = threading.Thread(target=killer, daemon=True)
    started = time.perf_counter()
    kill_thread.start()
    latencies, ids, upload_wall = upload_all(url, tokens, per_team,
                                             lambda kind: f"/api/v1/phases/test/tasks/{kind}/submissions")
    uploaded = started + upload_wall
    print(f"{len(ids)} submissions accepted in {upload_wall:.1f} s")
    while True:
        with db.read() as conn:
            st = Counter(conn.execute(submissions.select().with_only_columns(submissions.c.status)).scalars())
        if st["finished"] + st["failed"] == len(ids):
            break
        time.sleep(1)
    ended = time.perf_counter()
    killed["done"] = True
    sampler.stop.set()
    sampler.join()
    with db.read() as conn:
        evs = conn.execute(events.select()).all()
        rows = {r.id: r for r in conn.execute(submissions.select())}
    db.dispose()
    outcomes = Counter(e.submission_id for e in evs if e.status in ("finished", "failed"))
    starts = Counter(e.submission_id for e in evs if e.status == "running")
    exactly_once = all(outcomes[i] == 1 for i in ids) and len(rows) == len(ids)
    finished = sum(1 for i in ids if rows[i].status == "finished")
    minutes = (ended - started) / 60
    lat_all = [x for _, x in latencies]
    lat = {k: [x for kk, x in latencies if kk == k] for k in ("avr", "avc")}
    ideal = args.workers * 60 / ((n_avr * t_avr + n_avc * t_avc) / (n_avr + n_avc))
    print()
    print(f"{'submissions':32s} {len(ids)} ({n_avr} AVR, {n_avc} AVC) from {args.teams} teams, {args.workers} workers")
    print(f"{'finished / failed':32s} {finished} / {len(ids) - finished}")
    print(f"{'each scored exactly once':32s} {exactly_once} (results per submission: {Counter(outcomes.values())})")
    if killed.get("pid"):
        print(f"{'killed job':32s} #{killed['submission']} leased {starts[killed['submission']]} times, "
              f"result recorded {outcomes[killed['submission']]} time(s)")
    for k in ("avr", "avc"):
        if lat[k]:
            print(f"{'upload-accept ' + k.upper() + ' p50 / p95':32s} {percentile(lat[k], 50):.2f} s / "
                  f"{percentile(lat[k], 95):.2f} s")
    print(f"{'upload-accept all p50 / p95':32s} {percentile(lat_all, 50):.2f} s / {percentile(lat_all, 95):.2f} s")
    total_mb = sum(p.stat().st_size for files in per_team.values() for _, p in files) / 1e6
    sink_avr = [x for k, x in sink_latencies if k == "avr"]
    print(f"{'baseline: bare HTTP sink AVR':32s} p50 {percentile(sink_avr, 50):.2f} s / p95 "
          f"{percentile(sink_avr, 95):.2f} s, all uploads in {sink_wall:.0f} s ({total_mb / sink_wall:.0f} MB/s)")
    print(f"{'server: all uploads accepted in':32s} {upload_wall:.0f} s ({total_mb / upload_wall:.0f} MB/s) = "
          f"{upload_wall / sink_wall:.2f}x the sink; AVR accept p50 = {percentile(lat['avr'], 50) / percentile(sink_avr, 50):.2f}x")
    print(f"{'same uploads, no worker running':32s} {alone_wall:.0f} s ({total_mb / alone_wall:.0f} MB/s) = "
          f"{alone_wall / sink_wall:.2f}x the sink: the rest is CPU shared with the scoring workers")
    print(f"{'baseline: local copy+sha256 AVR':32s} {t_copy:.2f} s for one file, alone")
    print(f"{'end to end':32s} {ended - started:.0f} s (uploads done after {uploaded - started:.0f} s)")
    print(f"{'submissions per minute':32s} {len(ids) / minutes:.1f}")
    print(f"{'baseline: evaluate AVR / AVC':32s} {t_avr:.1f} s / {t_avc:.1f} s -> {args.workers} workers that only "
          f"score: {ideal:.1f} per minute; server = {len(ids) / minutes / ideal:.2f}x of that")
    print(f"{'peak RSS web process':32s} {sampler.server_peak / 2**20:.0f} MiB")
    for pid, peak in sorted(sampler.worker_peak.items()):
        note = " (SIGKILLed)" if pid == killed.get("pid") else ""
        print(f"{'peak RSS worker ' + str(pid) + note:32s} {peak / 2**20:.0f} MiB python (VmHWM); largest sampled "
              f"RSS with its JVM/scorer children {sampler.worker_tree_peak.get(pid, 0) / 2**20:.0f} MiB")
    if not exactly_once or finished != len(ids):
        raise SystemExit("FAILED: a submission was lost, failed or recorded twice")


if __name__ == "__main__":
    main()
