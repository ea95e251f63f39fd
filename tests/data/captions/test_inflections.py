"""Inflected concept forms (-s/-es, -ing, -ed): regular English rules, opt-in (preset ``inflected``); the
paper's preset keeps whole words, which is how the paper's Table 1 was counted."""

from __future__ import annotations

import pytest

from valor_data.captions.acd import acd_of, matcher_for
from valor_data.captions.concepts import ConceptOptions, concepts_from_file, past_tense, present_participle


@pytest.mark.parametrize(
    ("word", "ing", "ed"),
    [
        ("bark", "barking", "barked"),
        ("whistle", "whistling", "whistled"),
        ("hum", "humming", "hummed"),
        ("tap", "tapping", "tapped"),
        ("roar", "roaring", "roared"),  # two vowels: no doubling
        ("gallop", "galloping", "galloped"),  # two syllables: no doubling
        ("buzz", "buzzing", "buzzed"),
        ("cry", "crying", "cried"),
        ("play", "playing", "played"),
        ("tie", "tying", "tied"),
        ("flee", "fleeing", "fleed"),  # regular rules only: -ed of an irregular verb is no real word
        ("snow", "snowing", "snowed"),  # a final w never doubles
    ],
)
def test_regular_verb_forms(word, ing, ed):
    assert (present_participle(word), past_tense(word)) == (ing, ed)


def test_the_inflected_preset_counts_what_a_reader_calls_the_concept():
    caption = "A dog barking, a bell rang while the dogs barked and a low tone beeps; cars hummed."
    found = [(m.concept, m.form) for m in matcher_for("inflected").match(caption)]
    assert ("bark", "barking") in found and ("bark", "barked") in found and ("beep", "beeps") in found
    assert ("car", "cars") in found and ("hum", "hummed") in found
    assert ("dogs", "dogs") in found  # a form that is a concept of its own stays that concept
    assert [m.form for m in matcher_for("paper").match(caption)] == ["dog", "bell", "dogs"]


def test_multiword_concepts_inflect_their_last_word(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("engine start\n")
    cs = concepts_from_file(path, ConceptOptions(plurals=True, verb_forms=True))
    assert cs.forms == {"engine start": "engine start", "engine starts": "engine start",
                        "engine starting": "engine start", "engine started": "engine start"}


def test_verb_forms_stay_off_in_the_paper_preset():
    assert acd_of(["the dog barked"], "paper").n_concepts == 1  # dog only
    assert acd_of(["the dog barked"], "inflected").n_concepts == 2
