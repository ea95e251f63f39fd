"""A task's journal: records read back as written, a torn or damaged record is ignored, a resume rewrites the
file so that new records never follow a torn one, and a process SIGKILLed while appending loses at most
the record it was writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from valor_data.fetch.journal import Journal, encode_record, read_journal, resume_journal


def _row(i: int, **extra) -> dict:
    return {"key": f"k{i:011d}_0_1000", "status": "unavailable", "message": f"no file {i} «é»\nsecond line",
            "attempts": 1, "video_path": None, "labels": ["/m/09x0r"], **extra}


def _write(path, rows) -> None:
    with Journal(path) as journal:
        for row in rows:
            journal.append(row)


def test_records_read_back_without_nulls(tmp_path):
    path = tmp_path / "00000.journal"
    rows = [_row(i) for i in range(5)]
    _write(path, rows)
    got, damaged = read_journal(path)
    assert damaged == 0
    assert got == [{k: v for k, v in r.items() if v is not None} for r in rows]
    assert path.read_bytes().count(b"\n") == 5  # newlines inside values are escaped: one line per record
    assert read_journal(tmp_path / "missing.journal") == ([], 0)


def test_a_torn_last_record_is_ignored_wherever_it_is_cut(tmp_path):
    path = tmp_path / "00000.journal"
    rows = [_row(i) for i in range(3)]
    _write(path, rows)
    whole = path.read_bytes()
    last = len(encode_record(rows[-1]))
    for cut in range(1, last):  # every length the kill can leave of the last record, its newline included
        path.write_bytes(whole[:-cut])
        got, damaged = read_journal(path)
        assert [r["key"] for r in got] == [r["key"] for r in rows[:2]], cut
        assert damaged == 1


def test_damaged_records_are_skipped_and_the_rest_kept(tmp_path):
    path = tmp_path / "00000.journal"
    _write(path, [_row(i) for i in range(3)])
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"unavailable", b"unavailablf")  # one flipped byte: its CRC fails
    path.write_bytes(b"\n".join(lines) + b"\x00" * 512)  # plus the zero-filled tail a power cut can leave
    got, damaged = read_journal(path)
    assert [r["key"] for r in got] == [_row(0)["key"], _row(2)["key"]]
    assert damaged == 2


def test_resume_keeps_what_is_asked_and_appends_after_intact_records_only(tmp_path):
    path = tmp_path / "00000.journal"
    _write(path, [_row(i) for i in range(4)])
    path.write_bytes(path.read_bytes()[:-7])  # the last record is torn
    kept = resume_journal(path, keep=lambda row: row["key"] != _row(1)["key"])
    assert sorted(kept) == [_row(0)["key"], _row(2)["key"]]
    _write(path, [_row(9)])  # the resumed task goes on
    got, damaged = read_journal(path)
    assert damaged == 0 and [r["key"] for r in got] == [_row(0)["key"], _row(2)["key"], _row(9)["key"]]
    assert resume_journal(path, keep=lambda row: False) == {} and not path.exists()


WRITER = """
import sys
from valor_data.fetch.journal import Journal
row = {"key": "x", "status": "unavailable", "message": "m" * 3000}
with Journal(sys.argv[1], sync_interval=0.01) as j:
    print("ready", flush=True)
    i = 0
    while True:
        j.append({**row, "key": f"k{i}"})
        i += 1
"""


@pytest.mark.parametrize("delay", [0.05, 0.2])
def test_sigkill_while_appending_loses_at_most_the_record_being_written(tmp_path, delay):
    path = tmp_path / "00000.journal"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    got, damaged = read_journal(path)
    assert len(got) > 0 and damaged <= 1
    assert [r["key"] for r in got] == [f"k{i}" for i in range(len(got))]  # in order, none missing
