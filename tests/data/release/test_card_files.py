"""SHA256SUMS (checked by the real sha256sum), the availability list (read by valor-bench), `valor-data verify`
against the card, and the command's errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from valor_bench.ground_truth import load_ground_truth
from valor_data.cli import main
from valor_data.release.checksums import parse_sums, sums_text


def test_sha256sum_checks_the_tars_and_catches_a_changed_byte(card_dir):
    ok = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=card_dir, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.count(": OK") == 2, ok.stdout + ok.stderr
    tar = card_dir / "valor-000001.tar"
    data = bytearray(tar.read_bytes())
    data[1000] ^= 0xFF
    tar.write_bytes(bytes(data))
    bad = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=card_dir, capture_output=True, text=True)
    assert bad.returncode == 1 and "valor-000001.tar: FAILED" in bad.stdout


def test_sums_round_trip_and_refuse_malformed_lines():
    text = sums_text([("a.tar", "0" * 64), ("b c.tar", "f" * 64)])
    assert text == f"{'0' * 64}  a.tar\n{'f' * 64}  b c.tar\n"
    assert parse_sums(text) == {"a.tar": "0" * 64, "b c.tar": "f" * 64}
    with pytest.raises(ValueError, match=r"SHA256SUMS:3: not a '<sha256>  <name>' line"):
        parse_sums(text + "abc  d.tar\n")


def test_valor_bench_scores_on_the_availability_list(card_template, card_clips):
    gt = load_ground_truth("test", available=card_template / "availability.txt")
    fetched = sorted(c for c, kind in card_clips.items() if kind == "ok")
    assert sorted(gt.video_ids) == fetched and gt.coverage.partial and gt.coverage.split_clips == 3491
    header = (card_template / "availability.txt").read_text()
    assert "# split: test" in header and f"# clips: {len(fetched)}" in header


def verify(shard_dir) -> tuple[int, dict]:
    res = CliRunner().invoke(main, ["verify", str(shard_dir), "--json"])
    return res.exit_code, json.loads(res.stdout)


def test_verify_checks_the_card(card_dir):
    code, report = verify(card_dir)
    assert code == 0 and report["summary"]["card"] is True, report
    doc = json.loads((card_dir / "croissant.json").read_text())
    tar = next(d for d in doc["distribution"] if d["@id"] == "valor-000000.tar")
    tar["sha256"] = "0" * 64
    (card_dir / "croissant.json").write_text(json.dumps(doc))
    (card_dir / "SHA256SUMS").write_text((card_dir / "SHA256SUMS").read_text().splitlines()[0] + "\n")
    (card_dir / "clips.parquet").write_bytes(b"not parquet")
    listed = (card_dir / "availability.txt").read_text().splitlines()
    (card_dir / "availability.txt").write_text("\n".join(listed[:-1]) + "\n")
    code, report = verify(card_dir)
    assert code == 1
    assert report["problems"][0] == "SHA256SUMS: does not list valor-000001.tar"
    assert report["problems"][1].startswith("clips.parquet: unreadable (") and "magic bytes" in report["problems"][1]
    assert report["problems"][2:] == [
        "croissant.json: valor-000000.tar: sha256 differs from stats.json's",
        "croissant.json: the sha256 of clips.parquet differs from the file's",
        "availability.txt: lists 2 clips, the shards hold 3 (0 not in the shards, 1 not listed)",
    ]


def test_verify_names_a_missing_card_file(card_dir):
    (card_dir / "README.md").unlink()
    code, report = verify(card_dir)
    assert code == 1 and report["problems"] == [f"README.md: missing; rerun `valor-data card {card_dir}`"]


def test_card_of_a_directory_that_is_not_a_shard_run(tmp_path):
    res = CliRunner().invoke(main, ["card", str(tmp_path)])
    assert res.exit_code == 1
    assert res.output.strip() == f"Error: {tmp_path}/stats.json: missing; give a directory written by a finished " \
                                 "`valor-data shard`"


def test_bad_options_are_usage_errors(card_dir):
    for args, message in ((["--base-url", "ftp://host/x"], "--base-url ftp://host/x: not an http(s) URL"),
                          (["--split", "dev"], "Invalid value for '--split'")):
        res = CliRunner().invoke(main, ["card", str(card_dir), *args])
        assert res.exit_code == 2 and message in res.output


def test_shard_without_the_release_extra_says_how_to_get_the_card(card_template, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "valor_data.release.card", None)  # as if datasets were not installed
    out = tmp_path / "shards"
    res = CliRunner().invoke(main, ["shard", str(card_template.parent / "fetch"), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["card"] == [] and "pip install 'valor[release]'" in summary["card_skipped"]
    assert f"valor-data card {out}" in summary["card_skipped"] and not (out / "croissant.json").exists()
    code, report = verify(out)
    assert code == 0 and report["summary"]["card"] is False
