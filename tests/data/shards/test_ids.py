"""`shard --ids`: shard one split of a fetch at a time; the output holds exactly the listed clips."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
from click.testing import CliRunner

from valor_data.cli import main


def _ok_clip_ids(fetch_dir):
    rows = pq.read_table(fetch_dir / "manifest.parquet").to_pylist()
    return sorted(r["clip_id"] for r in rows if r["status"] == "ok")


def test_shard_only_listed_clips_then_verify(fetch_dir, tmp_path):
    ok = _ok_clip_ids(fetch_dir)
    ids = tmp_path / "train_ids.txt"
    # clip ids and sample keys are both accepted; one id was never fetched
    from valor_data.clip import ClipRef

    ids.write_text(f"# a split\n{ok[0]}\n{ClipRef.from_clip_id(ok[1]).key}\nzzzzzzzzzzz_1.000_2.000\n")
    out = tmp_path / "shards"
    result = CliRunner().invoke(main, ["shard", str(fetch_dir), "--out", str(out), "--ids", str(ids), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["samples"] == 2 and summary["ids_unmatched"] == 1
    manifest = pq.read_table(out / "manifest.parquet").to_pylist()
    assert sorted(r["clip_id"] for r in manifest) == ok[:2]
    verify = subprocess.run([sys.executable, "-m", "valor_data.cli", "verify", str(out)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_bad_id_line_is_named(fetch_dir, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("not-a-clip\n")
    result = CliRunner().invoke(main, ["shard", str(fetch_dir), "--out", str(tmp_path / "s"), "--ids", str(ids)])
    assert result.exit_code == 1
    assert f"--ids {ids}:1:" in result.output and "invalid" in result.output
