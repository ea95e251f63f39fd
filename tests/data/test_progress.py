"""Progress off a terminal: a status line per interval and a final one, never a bar redrawn per update."""

import io
import time

from valor_data.progress import LogProgress, progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_line_per_interval_not_per_update():
    log = io.StringIO()
    bar = LogProgress(total=1000, desc="fetch", unit="clip", file=log, interval=0.2)
    started = time.monotonic()
    while time.monotonic() - started < 0.7:  # ~700 updates
        bar.update(1)
        bar.set_postfix(ok=bar.n - 1, failed=1)
        time.sleep(0.001)
    bar.close()
    lines = log.getvalue().splitlines()
    assert 2 <= len(lines) <= 6, lines  # ~3 interval lines + the final one, not one per update
    first = lines[0]
    assert first.startswith("fetch: ") and "/1,000 clip (" in first and "clip/s" in first
    assert ", ok " in first and ", failed 1" in first and "ETA " in first
    assert lines[-1].startswith(f"fetch: done {bar.n:,}/1,000 clip in 0:00:0")


def test_a_line_is_written_even_when_nothing_finishes():
    """A long task that finishes nothing for minutes still shows the run is alive."""
    log = io.StringIO()
    with LogProgress(total=3, desc="shard", unit="shard", file=log, interval=0.1):
        time.sleep(0.35)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("shard: 0/3 shard (0.0 %)")


def test_the_bar_on_a_terminal_lines_elsewhere_nothing_when_disabled(monkeypatch):
    monkeypatch.setenv("VALOR_PROGRESS_INTERVAL", "3600")
    assert type(progress_bar(total=1, file=_Tty())).__name__ == "tqdm"
    log = io.StringIO()
    bar = progress_bar(total=2, desc="verify", unit="shard", file=log)
    assert isinstance(bar, LogProgress) and bar.interval == 3600
    bar.min_final_s = 0
    bar.reset(total=4)
    bar.update(4)
    bar.close()
    assert log.getvalue().splitlines() == [log.getvalue().strip()]
    assert log.getvalue().startswith("verify: done 4/4 shard in ")
    quiet = progress_bar(total=2, file=log, disable=True)
    quiet.update(2)
    quiet.close()
    assert log.getvalue().count("\n") == 1


def test_a_job_done_within_a_second_prints_nothing():
    log = io.StringIO()
    with LogProgress(total=5, desc="acd", file=log, interval=30) as bar:
        bar.update(5)
    assert log.getvalue() == ""
