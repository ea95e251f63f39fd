"""`valor-data demo` at a reduced size: every step runs and leaves the outputs it promises."""

import json
import sqlite3

import numpy as np
import pyarrow.parquet as pq
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.synthetic.demo_data import FAILING


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo_out"
    result = CliRunner().invoke(
        main, ["demo", "--out", str(out), "--clips", "20", "--train-steps", "3", "--batch-size", "4"]
    )
    assert result.exit_code == 0, result.output

    # inputs + fetch: one manifest row per input row, each failing clip with its reason
    manifest = pq.read_table(out / "fetch" / "manifest.parquet").to_pylist()
    statuses = {row["ytid"]: row["status"] for row in manifest if row["ytid"]}
    assert len(manifest) == 20 + len(FAILING) + 2
    for ytid, (_, status) in FAILING.items():
        assert statuses[ytid] == status, ytid
    assert sum(row["status"] == "ok" for row in manifest) == 21
    assert sum(row["status"] == "invalid_id" for row in manifest) == 1

    # split: disjoint, covering the ok captioned clips
    ids = {s: set((out / "split" / f"{s}_ids.txt").read_text().split()) for s in ("train", "val", "test")}
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"]) and not (ids["val"] & ids["test"])
    assert sum(map(len, ids.values())) == 21

    # shard + verify: each split's shards hold exactly its clips
    for split, wanted in ids.items():
        stats = json.loads((out / "shards" / split / "stats.json").read_text())
        assert stats["samples"] == len(wanted)
        index = pq.read_table(out / "shards" / split / "index.parquet").to_pylist()
        assert {row["clip_id"] for row in index} == wanted
        card = (out / "shards" / split / "README.md").read_text()
        assert f"pretty_name: valor-demo-{split}" in card and f"split: {split}" in card
        assert "# split: " + split in (out / "shards" / split / "availability.txt").read_text()

    # export: the test split in the official VALOR code's layout
    release = out / "release" / "valor"
    assert set(json.loads((release / "test_id.json").read_text())) == ids["test"]
    assert all(list((release / "frames_fps4" / i).glob("frame_*.jpg")) for i in ids["test"])

    # acd + stats
    acd = json.loads((out / "acd.json").read_text())
    demo_acd, valor_acd = acd["files"]
    assert valor_acd["captions"] == 3491  # the shipped VALOR-32K test split
    assert demo_acd["captions"] == 21 and 8 < demo_acd["acd"] < 12  # one concept ("beep", "hum") in ~10 words
    assert (out / "stats" / "label_distribution.png").stat().st_size > 10_000

    # train + predict
    lines = (out / "model" / "metrics.jsonl").read_text().splitlines()
    assert lines and all(np.isfinite(json.loads(line).get("loss", 0.0)) for line in lines)
    assert list((out / "model" / "checkpoints").glob("*.pt"))
    sim = np.load(out / "predictions" / "avr.npz")
    assert sim["sim"].shape == (len(ids["test"]), len(ids["test"]))
    captions = json.loads((out / "predictions" / "avc.json").read_text())
    assert {c["video_id"] for c in captions} == ids["test"]

    # submit + leaderboard: two demo entries and the paper's reference rows
    with sqlite3.connect(out / "leaderboard.sqlite") as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        assert tables
    board = (out / "leaderboard.md").read_text()
    assert "VALOR-tiny (demo)" in board and "VALOR-B" in board and "reported, not reproduced" in board
    assert "everything under" in result.output or (out / "leaderboard.md").exists()
