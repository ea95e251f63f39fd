"""`valor-data fetch --source mirror` end to end: reasons clip by clip, outputs, rerun, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.clip import MANIFEST_SCHEMA, REASONS

FAST = ["--retries", "2", "--retry-wait", "0.05", "--socket-timeout", "0.5", "--no-progress"]


def fetch(*args: str):
    return CliRunner().invoke(main, ["fetch", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def mirror_run(tmp_path_factory, ids_file, mirror_server, spec):
    """One mirror fetch (2 worker processes) shared by the assertions below."""
    spec.arm_faults(mirror_server)
    out = tmp_path_factory.mktemp("mirror_run") / "out"
    args = [str(ids_file), "--out", str(out), "--source", "mirror", "--url-template", mirror_server.url_template,
            "--workers", "2", "--task-size", "3", *FAST]
    try:
        result = fetch(*args, "--json")
    finally:
        spec.disarm_faults(mirror_server)
    assert result.exit_code == 0, result.output
    return out, args, json.loads(result.stdout), mirror_server


def test_reasons_clip_by_clip(mirror_run, spec):
    out, _, summary, _ = mirror_run
    table = pq.read_table(out / "manifest.parquet")
    assert table.schema.equals(MANIFEST_SCHEMA)
    rows = table.to_pylist()
    clips = {r["ytid"]: r for r in rows if r["status"] != "invalid_id"}
    assert {y: r["status"] for y, r in clips.items()} == spec.EXPECTED_MIRROR
    assert len(rows) == len(spec.EXPECTED_MIRROR) + 2  # one row per input clip: duplicate merged, 2 invalid rows
    # the real messages are kept
    assert "HTTP Error 404" in clips["f404JJJJJ10"]["message"]
    assert "HTTP Error 500" in clips["f500LLLLL12"]["message"]
    assert "Stream ends prematurely" in clips["ftruncMMM13"]["message"]
    assert "timed out" in clips["fstallNNN14"]["message"]
    assert "Connection timed out" in clips["fmidstall17"]["message"]  # ffmpeg's own words
    assert "Invalid data found" in clips["corruptIII9"]["message"]
    assert "--silence-db" in clips["silentEEEE5"]["message"]
    # retries: transient reasons only, as many as asked
    assert clips["f429KKKKK11"]["attempts"] == 3  # 429, 429, then served
    assert clips["f500LLLLL12"]["attempts"] == clips["fstallNNN14"]["attempts"] == 3
    assert clips["f404JJJJJ10"]["attempts"] == clips["noaudioCCC3"]["attempts"] == 1
    assert all(r["status"] in REASONS or r["status"] == "ok" for r in rows)
    assert summary["counts"]["ok"] == 4 and summary["rows"] == len(rows) and summary["duplicates"] == 1


def test_invalid_rows_name_file_and_line(mirror_run, ids_file):
    out, _, _, _ = mirror_run
    bad = [r for r in pq.read_table(out / "manifest.parquet").to_pylist() if r["status"] == "invalid_id"]
    assert [r["source"] for r in bad] == [f"{ids_file}:20", f"{ids_file}:21"]
    assert bad[0]["message"].startswith(f"{ids_file}:20: invalid clip id 'not_a_clip'")
    assert "invalid YouTube id 'tooShortId'" in bad[1]["message"]
    assert all(r["key"] is None and r["video_path"] is None for r in bad)


def test_ok_clips_are_normalised_files(mirror_run):
    out, _, _, _ = mirror_run
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    for r in ok:
        video, audio = out / r["video_path"], out / r["audio_path"]
        assert r["video_path"] == f"clips/{Path(r['video_path']).parent.name}/{r['key']}.mp4"
        assert (video.stat().st_size, audio.stat().st_size) == (r["video_bytes"], r["audio_bytes"])
        with av.open(str(video)) as c:
            assert len(c.streams.audio) == 0 and c.streams.video[0].codec_context.name == "h264"
            assert min(c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == 224
            assert c.duration / 1e6 == pytest.approx(r["end"] - r["start"], abs=0.1)
        with av.open(str(audio)) as c:
            a = c.streams.audio[0].codec_context
            assert (a.name, a.sample_rate, a.channels) == ("flac", 16000, 1)
        probe = json.loads(r["probe"])
        assert probe["has_audio"] and probe["has_video"] and probe["output"]["height"] == 224
    failed = [r for r in rows if r["status"] != "ok"]
    assert all(r["video_path"] is None and r["audio_path"] is None for r in failed)
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "clips").rglob("*") if p.is_file())
    assert on_disk == sorted([r["video_path"] for r in ok] + [r["audio_path"] for r in ok])
    assert not (out / "_work").exists() and not list((out / "_tasks").glob("*.journal"))


def test_only_the_segment_is_fetched_with_range_requests(mirror_run, spec):
    out, _, _, mirror = mirror_run
    ytid, _, (start, end) = spec.LONG
    size = (Path(mirror.root) / f"{ytid}.mp4").stat().st_size
    ranged = [r for r in mirror.requests_for(f"{ytid}.mp4") if r.status == 206]
    starts = [int(r.range.split("=")[1].split("-")[0]) for r in ranged]
    assert any(0 < s < size for s in starts), mirror.requests_for(f"{ytid}.mp4")  # ffmpeg seeked by Range
    row = next(r for r in pq.read_table(out / "manifest.parquet").to_pylist() if r["ytid"] == ytid)
    assert json.loads(row["probe"])["duration"] == pytest.approx(end - start, abs=0.1)


def test_rerun_does_nothing_but_rewrite_the_manifest(mirror_run):
    out, args, _, mirror = mirror_run
    before = pq.read_table(out / "manifest.parquet")
    n_requests = len(mirror.log)
    result = fetch(*args, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tasks_done_before"] == summary["tasks"]
    assert len(mirror.log) == n_requests  # nothing downloaded again
    assert pq.read_table(out / "manifest.parquet").equals(before)


def test_rerun_with_other_outputs_is_refused(mirror_run):
    out, args, _, _ = mirror_run
    result = fetch(*args, "--short-side", "112")
    assert result.exit_code == 1
    assert "holds a fetch with different inputs or options" in result.output
    assert result.output.splitlines()[-1] == "--short-side 224 → 112"  # only what differs, one line each
    result = fetch(*args, "--task-size", "4", "--crf", "30")
    assert result.exit_code == 1 and result.output.splitlines()[-2:] == ["--task-size 3 → 4", "--crf 23 → 30"]


def test_max_filesize_bounds_the_download(tmp_path, mirror_server, spec):
    ids = tmp_path / "ids.txt"
    ids.write_text(spec.clip_id(spec.LONG[0], spec.LONG[2]) + "\n" + spec.clip_id("-okAAAAAAA1") + "\n")
    out = tmp_path / "out"
    result = fetch(str(ids), "--out", str(out), "--source", "mirror", "--url-template", mirror_server.url_template,
                   "--max-filesize", "100K", "--distributor", "serial", "--json", *FAST)
    assert result.exit_code == 0, result.output
    rows = {r["ytid"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    assert rows[spec.LONG[0]]["status"] == "too_large"  # ~500 KB segment of a noisy video
    assert "--max-filesize (102400 bytes)" in rows[spec.LONG[0]]["message"]
    assert rows["-okAAAAAAA1"]["status"] == "ok"  # a few KB


def test_human_summary(mirror_run):
    out, args, _, _ = mirror_run
    result = fetch(*[a for a in args])
    assert result.exit_code == 0
    assert "fetched 19 rows (17 clips, 2 invalid rows, 1 duplicates merged)" in result.stdout
    assert "  ok " in result.stdout and "unavailable" in result.stdout
    assert f"manifest: {out / 'manifest.parquet'}" in result.stdout
    assert "warning: " in result.stderr and ":20: invalid clip id" in result.stderr


@pytest.mark.parametrize(("extra", "message"), [
    (["--source", "mirror"], "--url-template"),
    (["--source", "mirror", "--url-template", "http://h/{id}.mp4"], "must contain {ytid}"),
    (["--filters", "decodable,not_blurry"], "unknown filter(s) not_blurry"),
    (["--filters", "decodable", "--silence-db", "-40"], "--silence-db is set but none of --filters"),
    (["--short-side", "225"], "odd"),
    (["--max-filesize", "lots"], "not a size"),
    (["--ytdlp-opts", "[1]"], "JSON object"),
    (["--distributor", "carrier-pigeon"], "'carrier-pigeon' is not one of"),
])
def test_usage_errors(tmp_path, ids_file, extra, message):
    result = fetch(str(ids_file), "--out", str(tmp_path / "o"), *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_input_is_one_clear_line(tmp_path):
    result = fetch(str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"), "--source", "local",
                   "--video-dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == f"Error: Invalid value for 'INPUTS...': File '{tmp_path / 'nope.csv'}' does not exist."
