"""End to end as a user types it: `valor-data fetch` (local dir and HTTP mirror) -> `shard` -> `verify`."""

from __future__ import annotations

import json
import tarfile

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.synthetic.media import make_clip
from valor_data.synthetic.mirror import Mirror

KINDS = {"-okclip0001": "ok", "okclip_0002": "ok", "noaudio0003": "no_audio", "silent00004": "silent"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    src = tmp_path_factory.mktemp("e2e_src")
    for i, (ytid, kind) in enumerate(KINDS.items()):
        make_clip(src / f"{ytid}.mp4", kind, duration=4.0, seed=i)
    annotations = src.parent / "desc.json"
    annotations.write_text(json.dumps(
        [{"video_id": f"{y}_0.500_3.500", "desc": [f"caption of {y}", "second caption"]} for y in KINDS]
        + [{"video_id": "missing0005_0.000_3.000", "desc": "a clip no source has"},
           {"video_id": "not a clip id", "desc": "a malformed row"}]
    ))  # fmt: skip
    return src, annotations


def invoke(*args: str):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout) if "--json" in args else res


def check_shards(fetch_dir, shard_dir):
    summary = invoke("shard", str(fetch_dir), "--out", str(shard_dir), "--shard-size", "1", "--json")
    assert (summary["samples"], summary["shards"], summary["with_captions"]) == (2, 2, 2)
    assert summary["status"] == {"invalid_id": 1, "no_audio": 1, "ok": 2, "silent": 1, "unavailable": 1}
    report = invoke("verify", str(shard_dir), "--json")
    assert report["ok"] and report["summary"]["decoded_shards"] == 2
    with tarfile.open(shard_dir / "valor-000000.tar") as tar:
        assert tar.getnames() == [f"-okclip0001_500_3500.{ext}" for ext in ("flac", "json", "mp4", "txt")]
        meta = json.loads(tar.extractfile("-okclip0001_500_3500.json").read())
    assert meta["captions"] == ["caption of -okclip0001", "second caption"]
    assert meta["probe"]["output"]["sample_rate"] == 16000 and meta["probe"]["output"]["height"] == 224
    rows = {r["key"]: r for r in pq.read_table(shard_dir / "manifest.parquet").to_pylist()}
    assert len(rows) == 6 and rows["okclip_0002_500_3500"]["shard"] == "valor-000001.tar"


def test_fetch_local_then_shard_then_verify(sources, tmp_path):
    src, annotations = sources
    fetch_dir = tmp_path / "fetch"
    invoke("fetch", str(annotations), "--out", str(fetch_dir), "--source", "local", "--video-dir", str(src),
           "--workers", "2", "--no-progress", "--json")  # fmt: skip
    check_shards(fetch_dir, tmp_path / "shards")


def test_fetch_mirror_then_shard_then_verify(sources, tmp_path):
    src, annotations = sources
    fetch_dir = tmp_path / "fetch"
    with Mirror(src) as mirror:
        invoke("fetch", str(annotations), "--out", str(fetch_dir), "--source", "mirror", "--url-template",
               mirror.url_template, "--workers", "2", "--no-progress", "--json")  # fmt: skip
    check_shards(fetch_dir, tmp_path / "shards")
