"""Live hints: words, audio concepts placed on the text as typed, the no-sound warning, near copies."""

from __future__ import annotations

import pytest

from valor_data.annotate.hints import NEAR_DUPLICATE, hints, word_spans
from valor_data.captions.acd import matcher_for


@pytest.fixture(scope="module")
def matcher():
    return matcher_for("paper")


def test_concepts_point_at_the_characters_typed(matcher):
    text = "A man's  DOG, by a car-engine; rain falls.  Café music."
    h = hints(text, [], matcher, {})
    found = [(text[c.start:c.end], c.concept) for c in h.concepts]
    assert ("DOG,", "dog") in found and ("rain", "rain") in found and ("music.", "music") in found
    assert any(c == "engine" and "engine" in t for t, c in found)
    assert h.words == 10 and not h.no_sound  # as the minimum-words rule counts: "man's" is one word, "mans"


def test_word_spans_follow_the_matcher_words():
    text = "  hi-hat  ｄｏｇ!"
    spans = word_spans(text, "space")
    assert [text[a:b] for a, b in spans] == ["hi-hat", "hi-hat", "ｄｏｇ!"]


@pytest.mark.parametrize("text, no_sound", [
    ("a man walks along a street in the sun", True),
    ("a man walks along a street and talks", False),  # a sound word that names no AudioSet class
    ("a dog runs across the lawn", False),
    ("", False),  # nothing typed yet: no warning
])
def test_no_sound_warning(matcher, text, no_sound):
    assert hints(text, [], matcher, {}).no_sound is no_sound


def test_near_duplicate_names_the_closest_neighbour(matcher):
    mine = "a woman plays the piano in a small room while a dog barks"
    neighbours = {"a_1.000_11.000": "a man rides a bike", "b_0.000_10.000": "A woman plays the piano in a room while a dog barks."}
    h = hints(mine, [], matcher, neighbours)
    assert h.near_duplicate_of == "b_0.000_10.000" and h.similarity >= NEAR_DUPLICATE
    far = hints("thunder rolls over an empty beach at night", [], matcher, neighbours)
    assert far.near_duplicate_of is None and far.similarity < NEAR_DUPLICATE


def test_labels_named_as_whole_words(matcher):
    h = hints("a dog barks at a passing bus", ["Bark", "Dog", "Bus", "Speech"], matcher, {})
    assert h.labels_named == ("Dog", "Bus")  # "barks" is not the word "bark"
    assert h.as_json()["labels_named"] == ["Dog", "Bus"]
