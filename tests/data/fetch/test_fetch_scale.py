"""The bookkeeping of `fetch` at a small scale: `benchmarks/fetch_scale.py` on 3,000 AudioSet-shaped ids
(the full run, a million ids, is a benchmark: `python benchmarks/fetch_scale.py`), and what OUT holds.

Only sizes are asserted here, never times: at most 1 KB written per failed clip, nothing per clip left in
OUT, a rerun of the finished job that writes (almost) nothing and does not merge again, a part marker
deleted by hand that makes the rerun redo that task and merge."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from valor_data.clip import ClipRef
from valor_data.fetch.plan import FetchOptions, input_fingerprint, plan_order
from valor_data.fetch.run import MERGE_ROW_GROUP, run_fetch
from valor_data.fetch.sources import DownloadOptions
from valor_data.inputs import BadRow, read_inputs


@pytest.fixture(scope="module")
def fetch_scale():
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "fetch_scale.py"
    spec = importlib.util.spec_from_file_location("fetch_scale", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_scale"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("fetch_scale", None)


def test_the_benchmark_at_small_scale(fetch_scale, tmp_path, capsys):
    figures = fetch_scale.main(["--clips", "3000", "--workers", "2", "--interval", "0.2", "--work",
                                str(tmp_path / "work"), "--json"])
    assert figures["tasks"] == 30
    assert figures["bytes_per_clip"] <= 1024, figures
    assert figures["rerun_write_bytes"] < 64 * 1024, figures  # config rewritten, nothing merged again
    assert figures["peak_tree_rss_mb"] > 0 and figures["rate_first_tenth"] > 0
    assert figures["checks"]["<= 1 KB written per clip"]


def test_out_holds_nothing_per_clip_and_a_lost_marker_is_redone(fetch_scale, tmp_path):
    ids = tmp_path / "segments.csv"
    fetch_scale.write_ids(ids, 500, seed=1)
    (tmp_path / "empty").mkdir()
    read = read_inputs([ids])
    opts = FetchOptions(download=DownloadOptions(source="local", video_dir=str(tmp_path / "empty")))
    out = tmp_path / "out"
    first = run_fetch(read.clips, read.bad_rows, out, opts, task_size=100)
    assert first.counts == {"unavailable": 500} and first.tasks == 5
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [".fetch.lock", "_tasks/00000.parquet", "_tasks/00001.parquet", "_tasks/00002.parquet",
                     "_tasks/00003.parquet", "_tasks/00004.parquet", "fetch_config.json", "manifest.parquet"]
    manifest = out / "manifest.parquet"
    before = manifest.stat().st_mtime_ns, manifest.stat().st_ino
    again = run_fetch(read.clips, read.bad_rows, out, opts)
    assert again.counts == first.counts and again.tasks_done_before == 5
    assert (manifest.stat().st_mtime_ns, manifest.stat().st_ino) == before  # not merged again
    (out / "_tasks" / "00003.parquet").unlink()
    redo = run_fetch(read.clips, read.bad_rows, out, opts)
    assert redo.tasks_done_before == 4 and redo.counts == first.counts
    assert manifest.stat().st_mtime_ns != before[0]  # merged again (the inode number may be reused)
    rows = pq.read_table(manifest)
    assert rows.num_rows == 500 and rows.column("key").to_pylist() == sorted(
        rows.column("key").to_pylist(), key=lambda k: k.rsplit("_", 2)[0])


def test_the_merge_streams_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr("valor_data.fetch.run.MERGE_ROW_GROUP", 250)
    (tmp_path / "empty").mkdir()
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"a{i:010d}_0.000_10.000\n" for i in range(1000)) + "not-an-id\n")
    read = read_inputs([ids])
    opts = FetchOptions(download=DownloadOptions(source="local", video_dir=str(tmp_path / "empty")))
    summary = run_fetch(read.clips, read.bad_rows, tmp_path / "out", opts, task_size=30)
    assert summary.counts == {"invalid_id": 1, "unavailable": 1000}
    meta = pq.ParquetFile(tmp_path / "out" / "manifest.parquet").metadata
    assert meta.num_rows == 1001 and meta.num_row_groups == 4  # 34 tasks of <= 30 rows, groups of >= 250
    assert MERGE_ROW_GROUP == 65_536  # the real setting: 16 row groups for a million clips


def test_the_input_fingerprint_is_the_documented_one():
    """Built with json's C escaper for speed, it must stay the sha256 of one `json.dumps([key, labels,
    captions])` per clip in plan order: fetch_config.json files written before still match."""

    rng = random.Random(0)
    texts = ["a dog barks", 'he said "hi"', "naïve café «ok» — 😀", "back\\slash\ttab\nnewline", "", "\x00\x1f"]
    clips = [ClipRef(f"{rng.randrange(10**11):011d}".replace("1", "-"), rng.randrange(100) * 1000, 10**6,
                     labels=tuple(rng.sample(["/m/09x0r", "/t/dd00088", 'a"b'], rng.randrange(3))),
                     captions=tuple(rng.sample(texts, rng.randrange(4)))) for _ in range(3000)]
    bad = [BadRow("f.csv", 3, "x,y", "expected YTID, start, end, labels; got 2 fields")]
    h = hashlib.sha256()
    for c in sorted(clips):
        h.update(json.dumps([c.key, list(c.labels), list(c.captions)]).encode())
    h.update(json.dumps([bad[0].raw, bad[0].message]).encode())
    assert input_fingerprint(clips, bad) == h.hexdigest()
    assert input_fingerprint(sorted(clips, key=plan_order), bad, in_plan_order=True) == h.hexdigest()
