"""Children started with ``valor_data.child_process`` die with their parent, SIGKILL included, and a
subreaper reaps the orphans its dead children leave. Real processes: a parent script is started, made to
start its child, and killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")]

PARENT = textwrap.dedent("""
    import signal, subprocess, sys, time
    from valor_data.child_process import spawn
    # `sleep` ignores its stdin: only the kernel can end it early
    child = spawn(["sleep", "60"], signal.SIGKILL) if sys.argv[1] == "spawn" else subprocess.Popen(["sleep", "60"])
    print(child.pid, flush=True)
    time.sleep(60)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _child_after_parent_killed(how: str) -> bool:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, how], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = _alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    return alive


def test_a_spawned_child_dies_with_its_sigkilled_parent():
    assert _child_after_parent_killed("spawn") is False


def test_a_plain_child_outlives_it():  # the control: what the kernel does without the call
    assert _child_after_parent_killed("popen") is True


REAPER = textwrap.dedent("""
    import subprocess, sys, time
    from valor_data.child_process import become_subreaper, reap_orphans
    assert become_subreaper()
    # a middle process starts a grandchild and exits at once: the grandchild is adopted here
    middle = subprocess.Popen([sys.executable, "-c", "import subprocess; print(subprocess.Popen(['sleep', '0.3']).pid)"],
                              stdout=subprocess.PIPE, text=True)
    orphan = int(middle.stdout.readline())
    middle.wait()
    time.sleep(1)
    print(orphan, reap_orphans(own={middle.pid}), flush=True)
""")


def test_a_subreaper_reaps_the_orphans_of_its_dead_children():
    out = subprocess.run([sys.executable, "-c", REAPER], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    orphan, reaped = out.stdout.split(" ", 1)
    assert reaped.strip() == f"[{orphan}]"
