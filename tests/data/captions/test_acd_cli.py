"""`valor-data acd` as a user runs them: JSON output, files written, one-line errors."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.resources import valor32k_annotation_path


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args))
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_acd_json_on_the_valor32k_test_split():
    out = json.loads(run("acd", "--json", str(valor32k_annotation_path("test"))).stdout)
    assert out["captions"] == 3_491
    assert out["preset"] == "paper"
    assert 19.5 < out["avg_len"] < 20.5 and 7.0 < out["acd"] < 9.5
    assert out["acd"] == pytest.approx(100 * out["concepts"] / out["words"], abs=1e-3)
    assert 0.7 < out["with_concept"] < 0.9
    assert out["top_concepts"][0] == {"concept": "music", "count": out["top_concepts"][0]["count"]}
    assert len(out["top_concepts"]) == 10


def test_acd_several_files_per_caption_parquet_and_table(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("A dog barks at a car.\nRain.\n\n")
    csv = tmp_path / "b.csv"
    csv.write_text("id,caption_1,caption_2\nx,Wind blows,A man speaking\n")
    out = json.loads(
        run(
            "acd", "--json", "--top", "3", str(txt), str(csv), "--per-caption", str(tmp_path / "pc.parquet")
        ).stdout
    )
    assert (out["captions"], out["words"], out["concepts"]) == (4, 12, 5)  # dog car rain wind "man speaking"
    assert [f["captions"] for f in out["files"]] == [2, 2]
    table = pq.read_table(tmp_path / "pc.parquet").to_pylist()
    assert table[0] == {
        "file": str(txt),
        "index": 0,
        "id": "1",
        "caption": "A dog barks at a car.",
        "words": 6,
        "concepts": 2,
        "matched": ["dog", "car"],
    }
    assert table[3]["id"] == "x" and table[3]["matched"] == ["man speaking"]
    pretty = run("acd", str(txt), str(csv)).output
    assert "all files" in pretty and "top concepts: " in pretty


def test_acd_presets_change_the_count(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("Bird song: a bird sings a song.\n")
    every = json.loads(run("acd", "--json", str(txt)).stdout)["concepts"]
    longest = json.loads(run("acd", "--json", "--preset", "longest", str(txt)).stdout)["concepts"]
    assert (every, longest) == (5, 3)  # bird song + bird + song, bird, song  vs  bird song, bird, song
    assert "paper:" in run("acd", "--list-presets").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["acd", "missing.txt"], "'missing.txt' does not exist"),
        (["acd"], "give at least one caption file"),
        (["acd", "--preset", "nope", "x.txt"], "Invalid value for '--preset'"),
    ],
)
def test_acd_errors_are_one_line(args, message):
    result = run(*args, ok=False)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_acd_missing_column_names_the_file(tmp_path):
    csv = tmp_path / "caps.csv"
    csv.write_text("a,b\n1,2\n")
    result = run("acd", str(csv), "--column", "caption", ok=False)
    assert result.exit_code == 1 and f"{csv}: no column 'caption'" in result.output


def test_acd_skips_a_line_that_is_not_utf8_and_names_it(tmp_path):
    """One bad byte in a web-scraped corpus skips that caption, not the file."""
    caps = tmp_path / "caps.txt"
    caps.write_bytes(b"A dog barks.\nbad \xff\xfe bytes\nRain falls on a roof.\n")
    out = json.loads(run("acd", "--json", str(caps)).stdout)
    assert out["captions"] == 2 and out["skipped"] == 1
    assert out["skipped_examples"] == [{"where": f"{caps}:2", "why": "not UTF-8 (byte 0xff at character 5)"}]
    text = run("acd", str(caps))
    assert f"skipped 1 empty or malformed record(s), e.g. {caps}:2: not UTF-8" in text.output
    csv = tmp_path / "caps.csv"
    csv.write_bytes(b"id,caption\na,A dog barks\nb,caf\xe9 noise\n")
    assert json.loads(run("acd", "--json", str(csv), "--column", "caption").stdout)["skipped"] == 1


def test_acd_with_a_concept_file_of_ones_own(tmp_path):
    caps = tmp_path / "caps.txt"
    caps.write_text("A dog barks at the Mail-Man.\nThe wind howls.\n")
    concepts = tmp_path / "mine.txt"
    concepts.write_text("# my sound vocabulary\nmail man\n\nhowls\nHowls\n")
    out = json.loads(run("acd", "--json", "--concepts", str(concepts), str(caps)).stdout)
    assert out["concepts_from"] == str(concepts) and out["concept_count"] == 2
    assert out["concepts"] == 2 and out["words"] == 10  # "mail-man" is two words under the paper's rules
    assert {c["concept"] for c in out["top_concepts"]} == {"mail man", "howls"}
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    res = run("acd", "--concepts", str(empty), str(caps), ok=False)
    assert res.exit_code == 1 and f"--concepts {empty}: no concept in it" in res.output
