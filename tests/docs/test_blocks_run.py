"""The docs work as written: the offline bash and python blocks of each page run in order, as a user would
type them, in a fresh directory that holds the shipped annotations. Blocks marked as needing YouTube, a GPU,
a cluster or hours are only parsed (test_commands_parse)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TIMEOUT = 600


def user_env(home: Path) -> dict[str, str]:
    """A user's shell: this tree's CLIs first on PATH, a private HOME, no leaderboard or token set."""
    env = {k: v for k, v in os.environ.items() if k not in ("VALOR_LEADERBOARD", "VALOR_TOKEN")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env["HOME"] = str(home)
    env["VALOR_PROGRESS_INTERVAL"] = "600"  # quiet logs: one final line per command
    return env


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def command_of(block) -> list[str]:
    if block.lang == "python":
        return [sys.executable, "-c", block.code]
    return ["bash", "-eo", "pipefail", "-c", block.code]


def wait_for(url: str, server: subprocess.Popen, where: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, f"{where}: the backgrounded block exited with {server.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{where}: {url} did not answer within 120 s")


def run_page(page, cwd: Path, env: dict[str, str], read_doc_page, background: list[subprocess.Popen]) -> None:
    for before in page.after:
        run_page(read_doc_page(before), cwd, env, read_doc_page, background)
    port = free_port() if page.free_port else None
    for block in page.runnable:
        if port:
            block.code = block.code.replace(page.free_port, port)
        if block.background:
            url = block.background.replace(page.free_port, port) if port else block.background
            with open(cwd / f"background-{block.line}.log", "w") as log:  # the child keeps its own copy
                server = subprocess.Popen(command_of(block), cwd=cwd, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            background.append(server)
            wait_for(url, server, block.where)
            continue
        done = subprocess.run(command_of(block), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT)
        assert done.returncode == 0, (
            f"{block.where}: the {block.lang} block exited with {done.returncode}\n"
            f"--- block\n{block.code}--- stdout (end)\n{done.stdout[-3000:]}\n--- stderr (end)\n{done.stderr[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_page_runs_as_written(doc_page, tmp_path, read_doc_page):
    (tmp_path / "annotations").symlink_to(ROOT / "annotations")
    background: list[subprocess.Popen] = []
    try:
        run_page(doc_page, tmp_path, user_env(tmp_path), read_doc_page, background)
    finally:
        for server in background:
            stop(server)
