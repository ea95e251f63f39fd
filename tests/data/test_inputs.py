"""Input readers: AudioSet CSVs, VALOR JSON, id lists; bad rows are kept with file and line."""

import json

from valor_data.inputs import BadRow, read_inputs
from valor_data.ontology import load_ontology


def test_audioset_csv_with_comments_quotes_and_trailing_commas(tmp_path):
    p = tmp_path / "seg.csv"
    p.write_text(
        "# Segments csv created\n# num_ytids=3\n# YTID, start_seconds, end_seconds, positive_labels,,,\n"
        '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088",,,\n'
        'short, 1.000, 2.000, "/m/09x0r"\n'
        'abcdefghijk, 5.000, 4.000, "/m/09x0r"\n'
        '--PJHxphWEs, 30.000, 40.000, "/m/012xff"\n'
    )
    got = read_inputs([p])
    assert [c.clip_id for c in got.clips] == ["--PJHxphWEs_30.000_40.000"]
    assert got.clips[0].labels == ("/m/09x0r", "/t/dd00088", "/m/012xff")
    assert got.duplicates == 1
    assert [(b.line, "YouTube id" in b.message) for b in got.bad_rows] == [(5, True), (6, False)]
    assert all(isinstance(b, BadRow) and b.source == str(p) for b in got.bad_rows)


def test_valor_json_and_id_list(tmp_path):
    j = tmp_path / "desc.json"
    j.write_text(json.dumps([
        {"video_id": "CEfOX4fYlsY_20.000_30.000", "desc": "a bird sings"},
        {"video_id": "bad", "desc": "x"},
        {"video_id": "-2Abohj8VYx_1.000_2.000", "desc": ["one", "two"]},
    ]))
    ids = tmp_path / "ids.txt"
    ids.write_text("# comment\nCEfOX4fYlsY_20.000_30.000\n\nnot-an-id\n")
    got = read_inputs([j, ids])
    assert [c.clip_id for c in got.clips] == ["CEfOX4fYlsY_20.000_30.000", "-2Abohj8VYx_1.000_2.000"]
    assert got.clips[1].captions == ("one", "two")
    assert len(got.bad_rows) == 2
    pairs = zip(got.bad_rows, ["desc.json", "ids.txt"], strict=True)
    assert [(b.source.endswith(n), b.line) for b, n in pairs] == [(True, 2), (True, 4)]


def test_ontology_names_and_roots():
    onto = load_ontology()
    assert len(onto) == 632
    assert onto.name("/m/09x0r") == "Speech"
    assert len(onto.roots) == 7
    assert "Human sounds" in onto.top_level("/m/09x0r")
    assert onto.name("/m/unknown") == "/m/unknown"
