"""Availability files: lists, fetch manifests and shard indexes; every bad file is one clear line per
problem (never a traceback); `valor-bench availability` writes a dated list with its digest."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_bench.cli import main
from valor_bench.coverage import availability_digest, read_availability
from valor_bench.ground_truth import load_ground_truth
from valor_data.clip import MANIFEST_SCHEMA, ClipRef
from valor_data.shards.layout import INDEX_SCHEMA

TEST_IDS = [line.strip() for line in open(load_ground_truth("test").path.with_name("test_ids.txt")) if line.strip()]
VAL_IDS = [line.strip() for line in open(load_ground_truth("test").path.with_name("val_ids.txt")) if line.strip()]


def errors(*args) -> tuple[int, list[str], str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output and not isinstance(res.exception, (AssertionError, KeyError, TypeError))
    return res.exit_code, [line for line in res.stderr.splitlines() if line.startswith("Error:")], res.output


def write_list(tmp_path, name: str, lines: list[str]) -> str:
    path = tmp_path / name
    path.write_text("".join(f"{x}\n" for x in lines))
    return str(path)


@pytest.mark.parametrize(("lines", "expected"), [
    (["# nothing but a comment", ""], "bad.txt: no clip ids (an availability list has one clip id a line"),
    ([*TEST_IDS[:5], "nope_1.000_2.000", "notaclip"],
     "bad.txt: clip ids that are not clips of test (2): 'nope_1.000_2.000', 'notaclip'"),
    ([*TEST_IDS[:5], *VAL_IDS[:3]], "bad.txt: clip ids of VALOR-32K val, not of test (3): "),
    ([*TEST_IDS[:5], TEST_IDS[1], TEST_IDS[1]],
     f"bad.txt: clip ids listed more than once (1): '{TEST_IDS[1]}' (3x)"),
])
def test_each_bad_list_is_one_clear_line(tmp_path, lines, expected):
    path = write_list(tmp_path, "bad.txt", lines)
    (tmp_path / "sub.json").write_text("[]")  # never read: the list is refused first
    for verb, *more in (("validate",), ("evaluate",), ("submit", "--name", "x", "--db", tmp_path / "lb.sqlite")):
        code, errs, output = errors(verb, tmp_path / "sub.json", "--task", "avc", "--split", "test", "--available", path,
                                    *more)
        assert code == 1 and len(errs) == 1, output
        assert errs[0].startswith(f"Error: {tmp_path / expected}"), errs


def test_a_list_with_several_problems_names_each_once(tmp_path):
    path = write_list(tmp_path, "bad.txt", [*TEST_IDS[:3], TEST_IDS[0], VAL_IDS[0], "x_1.000_2.000"])
    (tmp_path / "s.json").write_text("[]")  # never read: the list is refused first
    code, errs, _ = errors("validate", tmp_path / "s.json", "--task", "avc", "--available", path)
    assert code == 1 and len(errs) == 3
    assert ["more than once" in errs[0], "VALOR-32K val" in errs[1], "not clips of test" in errs[2]] == [True] * 3


def test_an_edited_list_and_a_list_of_another_split_are_refused(tmp_path):
    out = tmp_path / "val.txt"
    res = CliRunner().invoke(main, ["availability", "--from-manifest", write_list(tmp_path, "v.txt", VAL_IDS[:50]),
                                    "--split", "val", "--out", str(out)])
    assert res.exit_code == 0, res.output
    (tmp_path / "s.json").write_text("[]")  # never read: the list is refused first
    code, errs, _ = errors("validate", tmp_path / "s.json", "--task", "avc", "--split", "test", "--available", out)
    assert code == 1 and any("the list was made for split 'val', but the ground truth is 'test'" in e for e in errs)
    edited = tmp_path / "edited.txt"
    edited.write_text(out.read_text().replace(VAL_IDS[0] + "\n", ""))
    code, errs, _ = errors("validate", tmp_path / "s.json", "--task", "avc", "--split", "val", "--available", edited)
    assert code == 1 and len(errs) == 1 and "does not match its 49 ids" in errs[0] and "edited" in errs[0]


def manifest(path, ok: list[str], failed: list[str]) -> None:
    rows = []
    for cid, status in [*((c, "ok") for c in ok), *((c, "unavailable") for c in failed)]:
        ref = ClipRef.from_clip_id(cid)
        rows.append({"clip_id": cid, "key": ref.key, "ytid": ref.ytid, "start": ref.start, "end": ref.end,
                     "labels": [], "captions": [], "status": status, "attempts": 1})
    pq.write_table(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), path)


def test_manifest_and_index_count_their_ok_clips_and_ignore_other_splits(tmp_path):
    ok, failed = TEST_IDS[:3142], TEST_IDS[3142:]
    m = tmp_path / "manifest.parquet"
    manifest(m, [*ok, *VAL_IDS[:7]], failed)  # a fetch of several splits
    out = tmp_path / "avail.txt"
    res = CliRunner().invoke(main, ["availability", "--from-manifest", str(m), "--out", str(out), "--name", "mine",
                                    "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["coverage"]["percent"] == 90.0 and summary["coverage"]["scored"] == 3142
    assert summary["digest"] == availability_digest(ok) and any("7 of its clips are not in test" in n
                                                                for n in summary["notes"])
    listed = read_availability(out)
    assert sorted(listed.clip_ids) == sorted(ok) and listed.header["digest"] == f"sha256:{summary['digest']}"
    assert listed.header["split"] == "test" and listed.header["name"] == "mine" and listed.header["coverage"] == "partial 90.0 %"

    index = tmp_path / "index.parquet"
    rows = [{"key": ClipRef.from_clip_id(c).key, "clip_id": c, "shard": "t-000000.tar", "member": m_, "name": "x",
             "offset": 0, "offset_data": 512, "size": 1} for c in ok for m_ in ("mp4", "flac", "json", "txt")]
    pq.write_table(pa.Table.from_pylist(rows, schema=INDEX_SCHEMA), index)
    for source in (m, index, out):
        gt = load_ground_truth("test", available=source)
        assert gt.coverage.percent == 90.0 and gt.coverage.digest == summary["digest"], source

    nothing_ok = tmp_path / "none" / "manifest.parquet"
    nothing_ok.parent.mkdir()
    manifest(nothing_ok, [], TEST_IDS[:4])
    (tmp_path / "s.json").write_text("[]")  # never read: the list is refused first
    code, errs, _ = errors("evaluate", tmp_path / "s.json", "--task", "avc", "--available", nothing_ok)
    assert code == 1 and errs == [f"Error: {nothing_ok}: no clip with status 'ok' among its 4 rows"]
    other = tmp_path / "other" / "manifest.parquet"
    other.parent.mkdir()
    manifest(other, VAL_IDS[:4], [])
    code, errs, _ = errors("evaluate", tmp_path / "s.json", "--task", "avc", "--available", other)
    assert code == 1 and len(errs) == 1 and "none of its 4 clips is a clip of test" in errs[0]
    stray = tmp_path / "stray.parquet"
    pq.write_table(pa.table({"a": [1]}), stray)
    code, errs, _ = errors("evaluate", tmp_path / "s.json", "--task", "avc", "--available", stray)
    assert code == 1 and len(errs) == 1 and "is a fetch/shard manifest.parquet" in errs[0]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    code, errs, _ = errors("evaluate", tmp_path / "s.json", "--task", "avc", "--available", broken)
    assert code == 1 and len(errs) == 1 and "not a readable parquet file" in errs[0]
