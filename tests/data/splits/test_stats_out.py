"""`valor-data stats` into a folder that holds an earlier run: afterwards it holds exactly this run's files."""

from __future__ import annotations

import json

from click.testing import CliRunner

from valor_data.cli import main
from valor_data.resources import valor32k_annotation_path


def _stats(split_dir, out):
    res = CliRunner().invoke(main, ["stats", "--split-dir", str(split_dir), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_a_rerun_leaves_no_figure_of_the_earlier_run(tmp_path):
    records = json.loads(valor32k_annotation_path("test").read_text())[:200]
    captioned, ids_only, out = tmp_path / "captioned", tmp_path / "ids", tmp_path / "out"
    captioned.mkdir()
    ids_only.mkdir()
    (captioned / "desc_test.json").write_text(json.dumps(records))
    (ids_only / "test_ids.txt").write_text("".join(r["video_id"] + "\n" for r in records[:50]))
    first = _stats(captioned, out)
    assert (out / "caption_length.png").is_file() and first["splits"]["test"]["clips"] == 200
    (out / "notes.txt").write_text("mine")  # not ours: kept

    second = _stats(ids_only, out)  # id lists: no captions, so no length histogram
    ours = {p.name for p in out.iterdir()} - {"notes.txt"}
    assert ours == {"label_distribution.csv", "label_distribution.md", "label_distribution.png", "stats.json"}
    assert sorted(second["written"]) == sorted(str(out / name) for name in ours)
    assert json.loads((out / "stats.json").read_text())["splits"]["test"]["clips"] == 50
    assert (out / "notes.txt").read_text() == "mine"
