"""Input readers: AudioSet CSVs, VALOR JSON, id lists; bad rows are kept with file and line."""

import json

import pytest

from valor_data.inputs import AnnotationFileError, BadRow, json_records, read_annotations, read_inputs
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


def test_the_annotation_reader_names_each_bad_record_and_keeps_the_rest(tmp_path):
    p = tmp_path / "desc.jsonl"
    p.write_text('{"video_id": "v1", "desc": "a dog barks"}\n\n{oops\n["not", "an object"]\n'
                 '{"video_id": "", "desc": "x"}\n{"video_id": "v2", "desc": [1]}\n{"video_id": "v3"}\n'
                 '{"video_id": "v4", "desc": ["one", "two"]}\n')
    got = list(read_annotations(p))
    assert [(a.where, a.video_id, a.captions) for a in got if not a.problem] == [
        ("line 1", "v1", ("a dog barks",)), ("line 7", "v3", ()), ("line 8", "v4", ("one", "two"))]
    problems = {a.where: a.problem for a in got if a.problem}
    assert problems["line 3"].startswith("invalid JSON")
    assert problems["line 4"] == "expected an object with 'video_id'"
    assert problems["line 5"] == "'video_id' must be a non-empty string, got ''"
    assert problems["line 6"].startswith("'desc' must be a string or a list of strings")


def test_whole_file_problems_raise_naming_the_file(tmp_path):
    broken, obj, latin = tmp_path / "broken.json", tmp_path / "obj.json", tmp_path / "latin.json"
    broken.write_text("[{")
    obj.write_text('{"v1": {"desc": "a"}}')
    latin.write_bytes('[{"video_id": "v", "desc": "caf\u00e9"}]'.encode("latin-1"))
    with pytest.raises(AnnotationFileError, match=r"broken\.json: invalid JSON"):
        list(read_annotations(broken))
    with pytest.raises(AnnotationFileError, match=r"obj\.json: expected a JSON list .* got dict"):
        list(read_annotations(obj))
    with pytest.raises(AnnotationFileError, match=r"latin\.json: not UTF-8 text"):
        list(read_annotations(latin))
    assert list(json_records(obj, mapping=True)) == [("v1", {"desc": "a"})]  # other datasets' shape
