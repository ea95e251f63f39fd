"""`valor-data split / stats` as a user runs them: JSON output, files written, one-line errors."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.resources import audioset_segments_paths, valor32k_annotation_path


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args))
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_split_from_annotations_json_and_files(tmp_path):
    out = json.loads(run("split", "--from-annotations", "--json", "--out", str(tmp_path)).stdout)
    assert {k: v["clips"] for k, v in out["splits"].items()} == {"train": 25_327, "val": 3_500, "test": 3_491}
    assert len(out["broken_captions"]) == 8
    assert out["leakage"]["audioset_eval_clips_in_train"] == 12_875
    assert len((tmp_path / "val_ids.txt").read_text().splitlines()) == 3_500
    header = (tmp_path / "labels.csv").read_text().splitlines()[0]
    assert header == "split,clip_id,audioset_source,labels,label_names"
    text = run("split", "--from-annotations").output
    assert "broken captions: 8" in text and "12,875 AudioSet-eval clips in train" in text


def test_split_with_manifest_captions_and_fractions(tmp_path):
    import pyarrow as pa

    from valor_data.inputs import read_valor_json

    desc = valor32k_annotation_path("val")
    val = [c for c in read_valor_json(desc) if hasattr(c, "clip_id")]
    manifest = tmp_path / "manifest.parquet"
    pq.write_table(
        pa.table(
            {
                "clip_id": [c.clip_id for c in val],
                "status": ["ok" if i % 4 else "unavailable" for i in range(len(val))],
            }
        ),
        manifest,
    )
    seg = [str(p) for p in audioset_segments_paths()]
    out = json.loads(
        run(
            "split",
            *seg,
            "--out",
            str(tmp_path / "s"),
            "--manifest",
            str(manifest),
            "--captions",
            str(desc),
            "--fractions",
            "0.8,0.1,0.1",
            "--seed",
            "5",
            "--json",
        ).stdout
    )
    assert out["excluded"]["not ok in the manifest"] == 42_531 - 2_625
    assert out["candidates"] == 2_625 and out["unused"] == 0
    assert out["sizes"] == {"train": 2_101, "val": 262, "test": 262}
    assert all(d["max_abs_diff_pp"] < 2.0 for d in out["label_distance"].values())
    written = json.loads((tmp_path / "s" / "desc_test.json").read_text())
    assert len(written) == out["sizes"]["test"] and all(isinstance(r["desc"], str) for r in written)
    again = run(
        "split",
        *seg,
        "--out",
        str(tmp_path / "s2"),
        "--manifest",
        str(manifest),
        "--captions",
        str(desc),
        "--fractions",
        "0.8,0.1,0.1",
        "--seed",
        "5",
        "--json",
    )
    assert (tmp_path / "s2" / "test_ids.txt").read_text() == (tmp_path / "s" / "test_ids.txt").read_text()
    assert again.exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "--out", "x"], "give the AudioSet segment CSV(s)"),
        (["split", "nothere.csv", "--out", "x"], "'nothere.csv' does not exist"),
        (["split", "{seg}", "--out", "{tmp}", "--sizes", "1,2"], "expected 3 numbers"),
        (["split", "{seg}", "--out", "{tmp}", "--sizes", "99999,1,1"], "only 20371 candidates"),
        (["split", "{seg}", "--out", "{tmp}", "--manifest", "{seg}"], "not a fetch manifest"),
    ],
)
def test_split_errors(tmp_path, args, message):
    seg = str(audioset_segments_paths()[1])
    result = run(*[a.format(seg=seg, tmp=tmp_path) for a in args], ok=False)
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_stats_writes_figures_tables_and_acd(tmp_path):
    ids = tmp_path / "split"
    ids.mkdir()
    for split in ("train", "test"):
        text = valor32k_annotation_path(split).read_text()
        recs = json.loads(text)[:300]
        (ids / f"desc_{split}.json").write_text(json.dumps(recs))
    out = json.loads(
        run("stats", "--split-dir", str(ids), "--out", str(tmp_path / "o"), "--top", "12", "--json").stdout
    )
    assert set(out["splits"]) == {"train", "test"}
    assert out["splits"]["train"]["clips"] == 300 and out["splits"]["train"]["acd"] > 3
    assert len(out["top_labels"]) == 12
    for name in (
        "label_distribution.png",
        "caption_length.png",
        "label_distribution.csv",
        "label_distribution.md",
        "stats.json",
    ):
        path = tmp_path / "o" / name
        assert path.is_file() and path.stat().st_size > 100
    assert (tmp_path / "o" / "label_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        (tmp_path / "o" / "label_distribution.md")
        .read_text()
        .startswith("| label | clips | train % | test % |")
    )


def test_split_of_only_malformed_rows_says_what_was_read_first(tmp_path):
    csv = tmp_path / "s.csv"
    csv.write_text('badrow, 0.000, 10.000, "/m/09x0r"\nx, 1, 2, "/m/09x0r"\n')
    res = run("split", str(csv), "--out", str(tmp_path / "d"), ok=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"warning: {csv}:1: invalid YouTube id 'badrow'" in res.output
    assert (f"no usable clip to split (read 2 rows: 0 clips, "
            f"2 malformed (first: {csv}:1: invalid YouTube id 'badrow'") in res.output
