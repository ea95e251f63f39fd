"""``valor-bench serve``: the web process plus N evaluation worker processes it keeps alive.

Workers are separate processes (``python -m valor_bench.cli worker``, exactly what ``valor-bench worker``
runs elsewhere), so evaluation never runs in the web process and a worker that dies takes nothing else
with it: the supervisor starts a new one (backing off if they keep dying), and the dead worker's job is
leased again when its lease expires. On Linux each worker gets SIGTERM when the server dies, even by
SIGKILL (``PR_SET_PDEATHSIG``), and the server is the subreaper of its workers' children: a worker's
JVMs and scorer process, killed with it, are reaped here instead of staying zombies under an init
that does not reap (as in many containers).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import uvicorn

from valor_bench.server.app import create_app
from valor_data.child_process import become_subreaper, reap_orphans, spawn

log = logging.getLogger("valor_bench.server")


class WorkerPool:
    """N ``valor-bench worker`` processes, restarted when they exit."""

    def __init__(self, n: int, db_url: str, data_dir: Path, poll_seconds: float = 1.0):
        self.n, self.db_url, self.data_dir, self.poll = n, db_url, data_dir, poll_seconds
        self.procs: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self._starts: deque[float] = deque(maxlen=10)
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _spawn(self) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "valor_bench.cli", "worker", "--db", self.db_url, "--data", str(self.data_dir),
               "--poll", str(self.poll)]
        proc = spawn(cmd, signal.SIGTERM, stdin=subprocess.DEVNULL)
        self._starts.append(time.monotonic())
        log.info("started evaluation worker pid %d", proc.pid)
        return proc

    def start(self) -> WorkerPool:
        become_subreaper()
        self.procs = [self._spawn() for _ in range(self.n)]
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            reap_orphans({p.pid for p in self.procs})
            for i, proc in enumerate(self.procs):
                code = proc.poll()
                if code is None or self._stop.is_set():
                    continue
                if len(self._starts) == self._starts.maxlen and time.monotonic() - self._starts[0] < 60:
                    log.error("workers keep exiting (%d starts in a minute); waiting 30 s before the next",
                              self._starts.maxlen)
                    if self._stop.wait(30):
                        return
                log.warning("evaluation worker pid %d exited with code %s; starting a new one", proc.pid, code)
                self.procs[i] = self._spawn()

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM (a worker finishes or hands back its job), then SIGKILL after the grace period."""
        self._stop.set()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in %.0f s: killed (its job is re-run after its lease)",
                            p.pid, grace_seconds)
                p.kill()
                p.wait()


def serve(state, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Run the web app (uvicorn, this process) and the worker pool until SIGINT/SIGTERM."""
    app = create_app(state)
    pool = WorkerPool(workers, state.db.url, state.store.root).start() if workers else None
    try:
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, proxy_headers=True,
                                timeout_graceful_shutdown=10, access_log=log_level == "debug")
        uvicorn.Server(config).run()
    finally:
        if pool:
            pool.stop()
        state.db.dispose()
