"""Progress that stays readable wherever stderr goes.

On a terminal: tqdm's bar. Off a terminal (CI, ``nohup``, a Spark driver log, a file) a bar redraws as a new
line at every update - a 200,000-clip fetch wrote ~2,000 bar lines into its log - so there it is replaced
by one status line every ``VALOR_PROGRESS_INTERVAL`` seconds (default 30), written even when nothing
finished in between, and a final line (unless the job took under a second)::

    fetch: 12,000/200,000 clip (6.0 %), 41.3 clip/s, ok 11,210, failed 790, elapsed 0:04:50, ETA 1:15:52
    fetch: done 200,000/200,000 clip in 1:20:42 (41.3 clip/s), ok 187,000, failed 13,000

``progress_bar`` takes the tqdm arguments the toolkit uses and returns either; both offer ``update``,
``set_postfix``, ``reset`` and ``close`` and work as context managers.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

from tqdm import tqdm

DEFAULT_INTERVAL_S = 30.0
INTERVAL_ENV = "VALOR_PROGRESS_INTERVAL"


def _interval() -> float:
    try:
        return max(0.01, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


class LogProgress:
    """Status lines at a fixed interval instead of a bar: for logs, where a bar is unreadable."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
                 file: IO[str] | None = None, interval: float | None = None, min_final_s: float = 1.0):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.file = file or sys.stderr
        self.interval = _interval() if interval is None else interval
        self.postfix: dict[str, Any] = {}
        self.min_final_s = min_final_s  # a job done sooner needs no progress line: its command's summary says it
        self._lines = 0
        self._initial = initial
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._beat, name=f"progress-{desc}", daemon=True)
        self._thread.start()

    # -- the tqdm subset the toolkit uses ------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        with self._lock:
            self.n += n

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        with self._lock:
            self.postfix = dict(values)

    def reset(self, total: int | None = None) -> None:
        with self._lock:
            self.n, self._initial, self.total = 0, 0, total
            self._started = time.monotonic()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        if self._lines or time.monotonic() - self._started >= self.min_final_s:
            self._write(final=True)

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lines --------------------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self._write(final=False)

    def line(self, final: bool = False) -> str:
        with self._lock:
            n, total, postfix = self.n, self.total, dict(self.postfix)
            elapsed = time.monotonic() - self._started
        done = n - self._initial
        rate = done / elapsed if elapsed > 0 else 0.0
        of = f"/{total:,}" if total else ""
        extras = "".join(f", {k} {_number(v)}" for k, v in postfix.items())
        head = f"{self.desc}: " if self.desc else ""
        if final:
            return f"{head}done {n:,}{of} {self.unit} in {_clock(elapsed)} ({rate:,.1f} {self.unit}/s){extras}"
        share = f" ({100 * n / total:.1f} %)" if total else ""
        eta = f", ETA {_clock((total - n) / rate)}" if total and rate > 0 and n < total else ""
        return (f"{head}{n:,}{of} {self.unit}{share}, {rate:,.1f} {self.unit}/s{extras}, "
                f"elapsed {_clock(elapsed)}{eta}")

    def _write(self, final: bool) -> None:
        self._lines += 1
        try:
            print(self.line(final), file=self.file, flush=True)
        except (OSError, ValueError):  # the log went away (closed pipe, closed file): progress is optional
            pass


class _Silent:
    """``disable=True``: the same calls, nothing shown."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        pass

    def reset(self, total: int | None = None) -> None:
        self.n = 0

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def is_terminal(file: IO[str]) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", *, initial: int = 0,
                 disable: bool = False, file: IO[str] | None = None, leave: bool = True):
    """tqdm's bar on a terminal, :class:`LogProgress` lines elsewhere, nothing when ``disable``."""
    file = file or sys.stderr
    if disable:
        return _Silent()
    if is_terminal(file):
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=file, dynamic_ncols=True, leave=leave)
    return LogProgress(total=total, desc=desc, unit=unit, initial=initial, file=file)
