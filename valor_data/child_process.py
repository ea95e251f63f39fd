"""Child processes that die with their parent, however the parent dies (SIGKILL included).

A worker killed by its host must not leave its JVMs and helper processes running on, holding memory
and files. On Linux the kernel does it: ``PR_SET_PDEATHSIG``, set in the child between fork and exec,
survives the exec and sends the signal when the parent dies. The signal follows the *thread* that
started the child, so start a child from a thread that outlives it. Where the call does not exist a
Python child runs :func:`exit_when_orphaned`, and a JVM that reads its stdin ends at end of file.

A supervisor that wants to reap what its dead children left (orphans it adopted as a subreaper, which
the system's init may never reap in a container) uses :func:`become_subreaper` and :func:`reap_orphans`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, resolved here once: after fork only the call itself may run."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


PRCTL = _prctl()


def set_parent_death_signal(signum: int, parent: int) -> None:
    """In this process: get ``signum`` when ``parent`` dies, and exit at once if it already has (it died
    before the call took effect). Nothing where unsupported."""
    if PRCTL is None:
        return
    PRCTL(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def die_with_parent(signum: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``signum`` when its parent dies; None where unsupported."""
    if PRCTL is None:
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: two system calls, nothing else
        set_parent_death_signal(signum, parent)

    return preexec


def spawn(cmd: list[str], signum: int, **popen_kwargs) -> subprocess.Popen:
    """``subprocess.Popen(cmd, ...)`` whose child gets ``signum`` when this process dies."""
    return subprocess.Popen(cmd, preexec_fn=die_with_parent(signum), **popen_kwargs)


def exit_when_orphaned(every: float = 0.5) -> None:
    """In a child: exit as soon as the parent is gone (portable backstop for ``PR_SET_PDEATHSIG``)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="exit-when-orphaned", daemon=True).start()


def become_subreaper() -> bool:
    """Adopt the orphans of this process's descendants (Linux); False where unsupported."""
    return PRCTL is not None and PRCTL(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def reap_orphans(own: Collection[int]) -> list[int]:
    """Reap the exited children of this process that are not in ``own`` (those have their Popen)."""
    reaped = []
    for task in Path("/proc/self/task").glob("*/children"):
        try:
            children = [int(c) for c in task.read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
        for pid in children:
            if pid in own:
                continue
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done:
                reaped.append(pid)
    return reaped
