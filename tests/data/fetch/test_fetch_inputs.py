"""Inputs and plans: VALOR JSON with captions, a forced input format, the serial distributor, and an
automatic task size that a rerun with other --workers keeps."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.clip import ClipRef
from valor_data.fetch.normalize import NormalizeOptions
from valor_data.fetch.plan import FetchOptions, config_changes, fetch_config
from valor_data.fetch.sources import DownloadOptions


def fetch(*args: str):
    return CliRunner().invoke(main, ["fetch", *args, "--no-progress"], catch_exceptions=False)


def test_valor_json_captions_reach_the_manifest(tmp_path, source_dir):
    annotations = tmp_path / "desc_test.json"
    annotations.write_text(json.dumps([
        {"video_id": "-okAAAAAAA1_0.500_3.500", "desc": "a tone plays while a pattern moves"},
        {"video_id": "ok_BBBBBBB2_1.000_3.000", "desc": ["a beep", "a steady beep"]},
        {"video_id": "-okAAAAAAA1_0.500_3.500", "desc": "the same clip again"},
        {"video_id": "nope", "desc": "x"},
    ]))
    out = tmp_path / "out"
    result = fetch(str(annotations), "--out", str(out), "--source", "local", "--video-dir", str(source_dir),
                   "--distributor", "serial", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["clips"], summary["invalid_rows"], summary["duplicates"]) == (2, 1, 1)
    rows = {r["clip_id"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    assert rows["-okAAAAAAA1_0.500_3.500"]["captions"] == ["a tone plays while a pattern moves",
                                                           "the same clip again"]
    assert rows["ok_BBBBBBB2_1.000_3.000"]["captions"] == ["a beep", "a steady beep"]
    assert rows["ok_BBBBBBB2_1.000_3.000"]["status"] == "ok"
    (bad,) = [r for r in rows.values() if r["status"] == "invalid_id"]
    assert bad["clip_id"] == '{"video_id": "nope", "desc": "x"}'  # the raw record
    assert bad["message"].startswith(f"{annotations}:4: invalid clip id 'nope'")


def test_input_format_can_be_forced(tmp_path, source_dir):
    ids = tmp_path / "clips.csv"  # an id list despite its extension
    ids.write_text("-okAAAAAAA1_0.500_3.500\n")
    out = tmp_path / "out"
    args = [str(ids), "--out", str(out), "--source", "local", "--video-dir", str(source_dir), "--json"]
    assert json.loads(fetch(*args, "--input-format", "ids").stdout)["counts"] == {"ok": 1}
    result = fetch(str(ids), "--out", str(tmp_path / "out2"), "--source", "local", "--video-dir", str(source_dir),
                   "--json")
    assert json.loads(result.stdout)["counts"] == {"invalid_id": 1}  # read as an AudioSet CSV: 1 field


def test_auto_task_size_is_kept_for_reruns(tmp_path, source_dir):
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{y}_0.500_3.500\n" for y in ("-okAAAAAAA1", "ok_BBBBBBB2", "f404JJJJJ10",
                                                            "f429KKKKK11", "f500LLLLL12")))
    out = tmp_path / "out"
    base = [str(ids), "--out", str(out), "--source", "local", "--video-dir", str(source_dir), "--json"]
    first = json.loads(fetch(*base, "--workers", "1").stdout)
    assert first["tasks"] == 3  # 5 clips, about 4 tasks per worker: 2 clips per task
    assert json.loads((out / "fetch_config.json").read_text())["task_size"] == 2
    again = json.loads(fetch(*base, "--workers", "2").stdout)
    assert again["tasks"] == again["tasks_done_before"] == 3


def test_fetch_config_keeps_no_secrets():
    run = FetchOptions(download=DownloadOptions(proxy="http://bob:s3cret@proxy:3128",
                                                ytdlp_params=(("password", "hunter2"),))).run_config()
    assert run["proxy"] == "http://***@proxy:3128" and run["ytdlp_params"] == ["password"]
    assert "s3cret" not in json.dumps(run) and "hunter2" not in json.dumps(run)


def test_a_refused_rerun_names_only_what_differs_one_line_each():
    clips = [ClipRef.from_clip_id("-okAAAAAAA1_0.500_3.500")]
    first = fetch_config(clips, [], FetchOptions(), 3)
    assert config_changes(first, fetch_config(clips, [], FetchOptions(), 3)) == []
    other = FetchOptions(normalize=NormalizeOptions(crf=30), filters=("decodable", "has_video", "not_frozen"),
                         thresholds=(("frozen_diff", 4.0),),
                         download=DownloadOptions(max_filesize=2_000_000, proxy="http://elsewhere:3128"))
    more = [*clips, ClipRef.from_clip_id("ok_BBBBBBB2_0.000_3.000")]
    lines = config_changes(first, fetch_config(more, [], other, 3))
    assert lines[0].startswith("inputs 1 clips (sha256 ") and " → 2 clips (sha256 " in lines[0]
    assert lines[1:] == ["--max-filesize (default) → 2000000",
                         "--filters decodable,has_video,has_audio,min_duration,not_silent,not_frozen → "
                         "decodable,has_video,not_frozen",
                         "--frozen-diff (default) → 4", "--crf 23 → 30"]  # a proxy changes no output
