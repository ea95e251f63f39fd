"""Shard outputs on fsspec URLs: a `file://` URL and a real remote filesystem (FTP on the loopback address,
written by other processes: pool workers and Spark workers) hold the same bytes as a local run; reruns
resume there; the paths that cannot work are refused in one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.engines.storage import StorageError, Store, is_url, require_local, resolve

TIMING = ("download_s", "process_s", "attempts")


def snapshot(d: Path) -> dict[str, str]:
    """sha256 of every output that must not depend on where or how the shards were written."""
    names = [p.name for p in sorted(d.glob("*.tar"))] + ["index.parquet", "stats.json"]
    out = {n: hashlib.sha256((d / n).read_bytes()).hexdigest() for n in names}
    rows = pq.read_table(d / "manifest.parquet").to_pylist()
    out["manifest"] = json.dumps([{k: v for k, v in r.items() if k not in TIMING} for r in rows], sort_keys=True)
    return out


def shard(src: Path, out: str, *extra: str) -> dict:
    res = CliRunner().invoke(main, ["shard", str(src), "--out", out, "--shard-size", "2", "--json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_locations():
    assert is_url("s3://bucket/x") and is_url("file:///tmp/x") and not is_url("/tmp/x") and not is_url("a:b")
    assert resolve("s3://bucket/x/") == "s3://bucket/x" and resolve("rel") == str(Path("rel").resolve())
    with pytest.raises(StorageError, match="must be a local or mounted POSIX directory"):
        require_local("s3://bucket/x", "fetch --out")


@pytest.mark.parametrize("kind", ["local", "file-url"])
def test_store_commits_whole_files_only(tmp_path, kind):
    store = Store(tmp_path / "d" if kind == "local" else f"file://{tmp_path}/d")
    store.makedirs()
    with store.staged("a.tar") as tmp:
        tmp.write_bytes(b"x" * 1000)
        assert store.list() == ([tmp.name] if kind == "local" else [])  # not under its final name yet
    assert store.list() == ["a.tar"] and store.size("a.tar") == 1000
    with pytest.raises(RuntimeError), store.staged("b.tar") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer died")
    assert store.list() == ["a.tar"] and store.size("b.tar") is None  # a failed write leaves nothing
    store.write_text("m.json", '{"k": 1}')
    assert json.loads(store.read_text("m.json")) == {"k": 1}
    store.remove("m.json")
    assert store.list() == ["a.tar"]
    with pytest.raises(OSError):
        store.read_text("missing.json")


def test_shard_to_a_file_url_is_the_local_run(reference_fetch, reference_shards, tmp_path):
    summary = shard(reference_fetch, f"file://{tmp_path}/shards")
    assert summary["shards_written"] == 3
    assert snapshot(tmp_path / "shards") == snapshot(reference_shards)


def test_shard_to_ftp_with_pool_workers_then_resume(reference_fetch, reference_shards, ftp_server):
    url = ftp_server.url("pool")
    assert shard(reference_fetch, url, "--workers", "2")["shards_written"] == 3
    served = ftp_server.root / "pool"
    assert snapshot(served) == snapshot(reference_shards)
    assert not list(served.glob("*.tmp"))

    # A lost tar (its marker stays) and a partial upload left by a killed writer: the rerun redoes that
    # one shard, removes the partial file, and ends with the same bytes.
    (served / "valor-000001.tar").unlink()
    (served / "valor-000002.tar.otherhost-1.tmp").write_bytes(b"partial")
    summary = shard(reference_fetch, url, "--workers", "2")
    assert (summary["shards_written"], summary["shards_skipped"]) == (1, 2)
    assert snapshot(served) == snapshot(reference_shards)
    assert not list(served.glob("*.tmp"))


@pytest.mark.spark
def test_spark_workers_write_shards_to_ftp(reference_fetch, reference_shards, ftp_server, spark_distributor):
    assert shard(reference_fetch, ftp_server.url("spark"), "--distributor", "spark")["shards_written"] == 3
    assert snapshot(ftp_server.root / "spark") == snapshot(reference_shards)


def test_unsupported_locations_are_one_line(reference_fetch, spark_ids, tmp_path):
    res = CliRunner().invoke(main, ["shard", str(reference_fetch), "--out", "nosuchfs://bucket/shards"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "Error: nosuchfs://bucket/shards: Protocol not known: nosuchfs" in res.output.splitlines()
    res = CliRunner().invoke(main, ["fetch", str(spark_ids), "--out", "s3://bucket/fetch", "--source", "local",
                                    "--video-dir", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 2 and "must be a local or mounted directory" in res.output
    res = CliRunner().invoke(main, ["verify", "s3://bucket/shards"])
    assert res.exit_code == 2 and "verify reads a local or mounted directory" in res.output
