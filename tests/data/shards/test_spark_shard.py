"""The same shard tasks run as Spark tasks give byte-identical tars (slow: starts a local Spark session)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from click.testing import CliRunner

from valor_data.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_spark_distributor_writes_the_same_tars(fetch_dir_template, sharded_template, tmp_path):
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    pytest.importorskip("pyspark")
    out = tmp_path / "spark"
    res = CliRunner().invoke(main, ["shard", str(fetch_dir_template), "--out", str(out), "--shard-size", "3",
                                    "--distributor", "spark", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["shards_written"] == 3

    def digests(d):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.glob("*.tar"))}

    assert digests(out) == digests(sharded_template)
    assert (out / "index.parquet").read_bytes() == (sharded_template / "index.parquet").read_bytes()
