"""`valor-data fetch --source local` through the installed console script, as a user types it."""

from __future__ import annotations

import json
import subprocess

import av
import pyarrow.parquet as pq
import pytest

from valor_data.clip import ClipRef
from valor_data.fetch import process as fetch_process
from valor_data.fetch.plan import FetchOptions
from valor_data.fetch.run import run_fetch
from valor_data.fetch.sources import DownloadOptions

EXPECTED_LOCAL = {
    "-okAAAAAAA1": "ok", "noaudioCCC3": "no_audio", "novideoDDD4": "no_video", "silentEEEE5": "silent",
    "frozenFFFF6": "frozen", "shortHHHHH8": "too_short", "corruptIII9": "decode_error", "missingOO15": "unavailable",
}


@pytest.fixture(scope="module")
def audioset_csv(tmp_path_factory, spec):
    """An AudioSet-style segment CSV over local sources (ids with '-' first), with labels and a bad row."""
    path = tmp_path_factory.mktemp("local_inputs") / "segments.csv"
    lines = ["# Segments csv created Sun Mar  5 10:54:31 2017",
             "# num_ytids=9, num_segs=9, num_unique_labels=2, num_positive_labels=10",
             "# YTID, start_seconds, end_seconds, positive_labels"]
    for ytid in EXPECTED_LOCAL:
        lines.append(f'{ytid}, 0.500, 3.500, "/m/09x0r,/m/04rlf"')
    lines.append(f'{spec.LONG[0]}, 8.000, 11.000, "/m/04rlf"')  # cut from the middle of a longer video
    lines.append('badrow, 0.000, 10.000, "/m/09x0r"')
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, console_script, audioset_csv, source_dir):
    out = tmp_path_factory.mktemp("local") / "out dir with space"
    cmd = [console_script, "fetch", str(audioset_csv), "--out", str(out), "--source", "local",
           "--video-dir", str(source_dir), "--workers", "2", "--json", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, cmd, json.loads(proc.stdout), proc


def test_local_reasons_clip_by_clip(local_run, spec):
    out, _, summary, proc = local_run
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert {r["ytid"]: r["status"] for r in rows if r["ytid"]} == {**EXPECTED_LOCAL, spec.LONG[0]: "ok"}
    bad = [r for r in rows if r["status"] == "invalid_id"]
    assert len(bad) == 1 and bad[0]["message"].endswith("invalid YouTube id 'badrow': expected 11 characters "
                                                        "of [A-Za-z0-9_-]")
    assert bad[0]["source"].endswith("segments.csv:13")
    assert "segments.csv:13: invalid YouTube id" in proc.stderr
    ok = next(r for r in rows if r["ytid"] == "-okAAAAAAA1")
    assert ok["labels"] == ["/m/09x0r", "/m/04rlf"]
    assert "no file named missingOO15.<ext>" in next(r for r in rows if r["ytid"] == "missingOO15")["message"]
    assert summary["counts"]["ok"] == 2 and summary["rows"] == 10


def test_local_cut_takes_the_segment(local_run, spec):
    out, _, _, _ = local_run
    row = next(r for r in pq.read_table(out / "manifest.parquet").to_pylist() if r["ytid"] == spec.LONG[0])
    assert row["download_s"] is not None and row["attempts"] == 1
    with av.open(str(out / row["video_path"])) as c:
        assert c.duration / 1e6 == pytest.approx(3.0, abs=0.05)
        v = c.streams.video[0].codec_context
        assert (v.width, v.height) == (298, 224)
    with av.open(str(out / row["audio_path"])) as c:
        assert c.duration / 1e6 == pytest.approx(3.0, abs=0.01)
    assert json.loads(row["probe"])["source_duration"] == pytest.approx(12.0, abs=0.05)


def test_local_max_duration(tmp_path, console_script, audioset_csv, source_dir):
    out = tmp_path / "out"
    proc = subprocess.run([console_script, "fetch", str(audioset_csv), "--out", str(out), "--source", "local",
                           "--video-dir", str(source_dir), "--max-duration", "10", "--workers", "1",
                           "--filters", "decodable", "--no-progress", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {r["ytid"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist() if r["ytid"]}
    assert rows["longRANGE16"]["status"] == "too_long"
    assert "lasts 12 s > --max-duration 10 s" in rows["longRANGE16"]["message"]
    # only `decodable` chosen: clips without audio or with a still image pass
    assert rows["frozenFFFF6"]["status"] == "ok"


def test_console_script_usage_error(console_script, tmp_path, audioset_csv):
    proc = subprocess.run([console_script, "fetch", str(audioset_csv), "--out", str(tmp_path / "o"),
                           "--source", "local"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--source local needs --video-dir" in proc.stderr and "Traceback" not in proc.stderr


def test_an_unexpected_exception_keeps_its_traceback(tmp_path, source_dir, monkeypatch):
    """A bug inside a clip's processing is status `error`, its message says where it was raised, and the
    whole traceback is in OUT/_errors/ (kept after the run), while the other clips carry on."""
    real = fetch_process.read_outputs

    def probe_with_a_bug(video, audio, thumbs=None):
        if "frozenFFFF6" in str(video):
            raise KeyError("width")
        return real(video, audio, thumbs)

    monkeypatch.setattr(fetch_process, "read_outputs", probe_with_a_bug)
    clips = [ClipRef.from_seconds(y, 0.5, 3.5) for y in ("-okAAAAAAA1", "frozenFFFF6")]
    options = FetchOptions(download=DownloadOptions(source="local", video_dir=str(source_dir)))
    summary = run_fetch(clips, [], tmp_path / "out", options)
    rows = {r["ytid"]: r for r in pq.read_table(summary.manifest).to_pylist()}
    assert rows["-okAAAAAAA1"]["status"] == "ok"
    bad = rows["frozenFFFF6"]
    assert bad["status"] == "error"
    assert bad["message"].startswith("KeyError: 'width' at test_fetch_local.py:")
    log_name = bad["message"].rsplit("traceback in ", 1)[1].rstrip(")")
    assert bad["message"].endswith(f"in probe_with_a_bug (traceback in {log_name})")
    log = (tmp_path / "out" / log_name).read_text()
    assert "=== frozenFFFF6_0.500_3.500" in log and "Traceback (most recent call last)" in log
    assert 'raise KeyError("width")' in log
