"""The COCO caption file: pycocotools and the official VALOR code's index both read it, and input they
would mis-read is refused."""

import json
from collections import defaultdict

import pytest
from pycocotools.coco import COCO

from valor_data.release.coco import CocoCaptionError, caption_annotations, caption_results, write_coco_json

CLIPS = [("-abc_def-gh_30.000_40.000", ["a dog barks", "a dog barks twice"]),
         ("x-2Abohj8VY_0.500_10.500", ["music plays"])]


@pytest.fixture
def annfile(tmp_path):
    path = tmp_path / "capanno.json"
    write_coco_json(path, caption_annotations(CLIPS, description="two clips"))
    return path


def test_pycocotools_indexes_clip_ids(annfile):
    coco = COCO(str(annfile))
    assert sorted(coco.getImgIds()) == sorted(c for c, _ in CLIPS)
    assert [a["caption"] for a in coco.imgToAnns["-abc_def-gh_30.000_40.000"]] == ["a dog barks", "a dog barks twice"]
    res = coco.loadRes(caption_results([("x-2Abohj8VY_0.500_10.500", "a song")]))
    assert res.imgToAnns["x-2Abohj8VY_0.500_10.500"][0]["caption"] == "a song"
    assert res.getImgIds() == ["x-2Abohj8VY_0.500_10.500"]


def test_results_for_an_unknown_clip_are_refused_by_pycocotools(annfile):
    with pytest.raises(AssertionError, match="do not correspond"):
        COCO(str(annfile)).loadRes(caption_results([("zzzzzzzzzzz_0.000_10.000", "a song")]))


def test_the_official_video_id_index_resolves_every_annotation(annfile):
    data = json.loads(annfile.read_text(encoding="utf-8"))
    by_video = defaultdict(list)  # what the official code's COCO.createIndex builds
    for ann in data["annotations"]:
        by_video[ann["video_id"]].append(ann["caption"])
    assert dict(by_video) == {c: caps for c, caps in CLIPS}
    assert data["type"] == "captions" and data["info"]["description"] == "two clips"
    assert all(a["image_id"] == a["video_id"] for a in data["annotations"])
    assert [a["id"] for a in data["annotations"]] == [1, 2, 3]


@pytest.mark.parametrize("clips, message", [
    ([], "no clips"),
    ([("a_0.000_1.000", ["x"]), ("a_0.000_1.000", ["y"])], "listed twice"),
    ([("a_0.000_1.000", [])], "non-empty list of captions"),
    ([("a_0.000_1.000", "a caption, not a list")], "non-empty list of captions"),
    ([("a_0.000_1.000", ["  "])], "caption '  ' is not a non-empty string"),
    ([("", ["x"])], "clip id '' is not"),
    ([("a_0.000_1.000", ["a dog\u2028barks"])], r"line break \\u2028"),
])
def test_bad_references_are_refused(clips, message):
    with pytest.raises(CocoCaptionError, match=message):
        caption_annotations(clips, description="bad")


@pytest.mark.parametrize("preds, message", [
    ([("a_0.000_1.000", "x"), ("a_0.000_1.000", "y")], "a second caption for a_0.000_1.000"),
    ([("a_0.000_1.000", None)], "caption None"),
    ([(7, "x")], "clip id 7"),
    ([("a_0.000_1.000", "a dog\rbarks")], r"line break \\r"),
])
def test_bad_predictions_are_refused(preds, message):
    with pytest.raises(CocoCaptionError, match=message):
        caption_results(preds)
