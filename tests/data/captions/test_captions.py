"""Caption readers: each format, field/column choice, skipped records, and errors that name the file."""

from __future__ import annotations

import json

import pytest

from valor_data.captions.readers import CaptionReadError, read_captions


def test_text_one_caption_per_line(tmp_path):
    p = tmp_path / "caps.txt"
    p.write_text("A dog barks.\n\n  \nRain falls\r\n", encoding="utf-8")
    got = read_captions(p)
    assert got.texts == ["A dog barks.", "Rain falls"]
    assert [c.id for c in got.captions] == ["1", "4"]
    assert [c.index for c in got.captions] == [0, 1]


def test_valor_json_string_and_list_desc(tmp_path):
    p = tmp_path / "desc.json"
    p.write_text(
        json.dumps(
            [
                {"video_id": "CEfOX4fYlsY_20.000_30.000", "desc": "a bird sings"},
                {"video_id": "v2", "desc": ["one", "two"]},
                {"video_id": "v3", "desc": ""},
                {"video_id": "v4"},
                {"video_id": "v5", "desc": 7},
            ]
        )
    )
    got = read_captions(p)
    assert got.texts == ["a bird sings", "one", "two"]
    assert [c.id for c in got.captions] == ["CEfOX4fYlsY_20.000_30.000", "v2", "v2"]
    reasons = [why for _, why in got.skipped]
    assert (
        reasons[0] == "empty caption" and "no field 'desc'" in reasons[1] and "list of strings" in reasons[2]
    )
    assert all(where.startswith(str(p)) for where, _ in got.skipped)


def test_json_object_of_records_with_field(tmp_path):
    p = tmp_path / "anet.json"
    p.write_text(json.dumps({"v_a": {"duration": 3, "sentences": ["A man runs.", " He stops."]}}))
    assert read_captions(p).texts == ["A man runs.", " He stops."]  # 'sentences' found automatically
    assert read_captions(p, field="sentences").captions[1].id == "v_a"
    with pytest.raises(CaptionReadError, match=r"anet\.json: no record has the field 'desc'.*duration"):
        read_captions(p, field="desc")


def test_jsonl_and_plain_string_lists(tmp_path):
    p = tmp_path / "caps.jsonl"
    p.write_text('{"video_id": "a", "caption": "x y"}\n\n{"video_id": "b", "caption": ["z"]}\n')
    assert read_captions(p).texts == ["x y", "z"]
    q = tmp_path / "plain.json"
    q.write_text(json.dumps(["first", "second"]))
    assert read_captions(q).texts == ["first", "second"]


def test_csv_columns_and_clotho_style_auto_columns(tmp_path):
    p = tmp_path / "clotho.csv"
    p.write_text(
        'file_name,caption_1,caption_2\n"a.wav","Rain, on a roof.",Wind blows\nb.wav,,Birds chirp\n',
        encoding="utf-8",
    )
    got = read_captions(p)
    assert got.texts == ["Rain, on a roof.", "Wind blows", "Birds chirp"]
    assert got.captions[0].id == "a.wav"
    assert len(got.skipped) == 1
    assert read_captions(p, columns=["caption_2"]).texts == ["Wind blows", "Birds chirp"]
    with pytest.raises(CaptionReadError, match=r"clotho\.csv: no column 'nope' \(columns: file_name"):
        read_captions(p, columns=["nope"])


def test_tsv_without_header_and_quotes_kept(tmp_path):
    p = tmp_path / "cc3m.tsv"
    p.write_text('a "quoted" caption\thttp://x/1.jpg\nanother one\thttp://x/2.jpg\n', encoding="utf-8")
    assert read_captions(p, header=False).texts == ['a "quoted" caption', "another one"]
    assert read_captions(p, header=False, columns=["1"]).texts == ["http://x/1.jpg", "http://x/2.jpg"]
    with pytest.raises(CaptionReadError, match=r"cc3m\.tsv: without a header, --column takes 0-based"):
        read_captions(p, header=False, columns=["caption"])
    with pytest.raises(CaptionReadError, match=r"cc3m\.tsv: no column 5"):
        read_captions(p, header=False, columns=["5"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "[{", r"bad\.json: invalid JSON"),
        ("bad.jsonl", '{"caption": "a"}\n{oops\n', r"bad\.jsonl:2: invalid JSON line"),
        ("num.json", "42", r"num\.json: expected a JSON list or object"),
        ("nofield.json", '[{"video_id": "a", "words": "x"}]', r"nofield\.json: no caption field found"),
        ("nocol.csv", "a,b\n1,2\n", r"nocol\.csv: no caption column found \(columns: a, b\)"),
    ],
)
def test_errors_name_the_file(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(CaptionReadError, match=message):
        read_captions(p)


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(CaptionReadError, match=r"missing\.txt: no such file"):
        read_captions(tmp_path / "missing.txt")
    p = tmp_path / "latin1.txt"
    p.write_bytes("caf\xe9 music\n".encode("latin-1"))
    with pytest.raises(CaptionReadError, match=r"latin1\.txt: not UTF-8 text, no caption decodes"):
        read_captions(p)
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(b"rain\n" + "caf\xe9 music\n".encode("latin-1") + b"wind\n")
    read = read_captions(mixed)
    assert [c.text for c in read.captions] == ["rain", "wind"]
    assert read.skipped == [(f"{mixed}:2", "not UTF-8 (byte 0xe9 at character 4)")]
    with pytest.raises(CaptionReadError, match="unknown caption format"):
        read_captions(p, fmt="xml")


def test_reference_caption_sets_read_with_the_table1_readers(shared_data, monkeypatch):
    """Every Table-1 reader of the benchmark reads its real files (counts from the data README)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "table1_acd.py"
    spec = importlib.util.spec_from_file_location("table1_acd", path)
    table1 = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "table1_acd", table1)  # dataclasses look their module up
    spec.loader.exec_module(table1)
    caps = table1.load(shared_data)
    counts = {k: len(v) for k, v in caps.items()}
    assert counts["VALOR-32K"] == 25_327 + 3_500 + 3_491
    assert counts["MSRVTT"] == 2_990 * 20
    assert counts["CC3M"] == 15_833
    assert counts["WebVid-2.5M"] == 5_000
    assert counts["ClothoV1"] > 19_000 and counts["AudioCaps"] > 57_000 and counts["ActivityNet"] > 70_000
    errors = table1.errors(table1.measure(caps, "paper"))
    assert errors["n_acd"] == 9
    assert errors["mae_acd"] < 0.55 and errors["max_abs_acd"] < 1.25  # README: 0.499 / 1.16
    assert errors["mae_len"] < 0.15
