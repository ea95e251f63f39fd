"""The ACD matcher: whole words, multi-word and overlapping concepts, punctuation, Unicode, counting modes."""

from __future__ import annotations

import random
import re
import string

import numpy as np
import pytest

from valor_data.captions import acd as acd_mod
from valor_data.captions.acd import PRESETS, AcdCounts, acd_of, matcher_for
from valor_data.captions.textnorm import normalize, punctuation_chars, words


def found(matcher, caption):
    return [m.concept for m in matcher.match(caption)]


def test_whole_words_only(make_matcher):
    m = make_matcher(["car", "bark"])
    assert found(m, "A car, a cart and a scar; carpets") == ["car"]
    assert found(m, "the dog barks and barking; embark") == []
    assert found(m, "BARK! bark? (bark)") == ["bark", "bark", "bark"]


def test_multi_word_concepts_need_consecutive_words(make_matcher):
    m = make_matcher(["man speaking", "bird song"])
    assert found(m, "A man speaking loudly") == ["man speaking"]
    assert found(m, "a man is speaking") == []
    assert found(m, "bird, song") == ["bird song"]  # punctuation is stripped before matching
    assert found(m, "a bird songs") == []


def test_overlapping_concepts_per_counting_mode(make_matcher):
    concepts = ["dog", "bark", "dog bark"]
    caption = "A dog bark then a dog"
    every = make_matcher(concepts, "every")
    assert sorted(found(every, caption)) == ["bark", "dog", "dog", "dog bark"]
    once = make_matcher(concepts, "once")
    assert sorted(found(once, caption)) == ["bark", "dog", "dog bark"]
    longest = make_matcher(concepts, "longest")
    assert found(longest, caption) == ["dog bark", "dog"]
    words_mode = make_matcher(concepts, "words")
    counts = words_mode.count([caption])
    assert counts.n_concepts == 3  # dog, bark (covered twice) and the second dog: 3 words
    assert counts.n_words == 6


def test_longest_is_leftmost_longest_and_adjacent_hits_both_count(make_matcher):
    m = make_matcher(["a b", "b c d", "d"], "longest")
    assert found(m, "a b c d") == ["a b", "d"]  # leftmost first, then the next free position
    m = make_matcher(["dog", "bark"], "longest")
    assert found(m, "dog bark dog") == ["dog", "bark", "dog"]


def test_match_positions_are_word_indexes(make_matcher):
    m = make_matcher(["dog bark"])
    (hit,) = m.match("Look: a DOG bark!")
    assert (hit.start, hit.end) == (2, 4)


def test_punctuation_delete_vs_space(make_matcher):
    deleting = make_matcher(["hi hat", "hihat", "dog"], punct="delete")
    assert found(deleting, "a hi-hat and the dog's bowl") == ["hihat"]
    spacing = make_matcher(["hi hat", "hihat", "dog"], punct="space")
    assert found(spacing, "a hi-hat and the dog's bowl") == ["hi hat", "dog"]
    assert words("the dog's hi-hat", "space") == ["the", "dog", "s", "hi", "hat"]
    assert words("the dog's hi-hat", "delete") == ["the", "dogs", "hihat"]


def test_unicode_letters_punctuation_and_width(make_matcher):
    m = make_matcher(["écho", "dog", "café music"])
    assert found(m, "ÉCHO «dog» — ｄｏｇ… “café music”!") == ["écho", "dog", "dog", "café music"]
    assert normalize("¿Qué?¡Sí! 😀 ﬁre ½") == "quésí fire 12"
    assert normalize("¿Qué?¡Sí! 😀 ﬁre ½", "space") == "qué sí fire 1 2"
    assert words("a\u00a0dog\u2003barks\tloud\nly") == ["a", "dog", "barks", "loud", "ly"]


def test_punctuation_set_is_unicode_p_and_s_and_covers_ascii():
    chars = punctuation_chars()
    assert set(string.punctuation) <= chars
    assert {"«", "»", "—", "…", "¿", "€", "©", "😀"} <= chars
    assert not {"a", "é", "1", " ", "\u0301"} & chars  # letters, digits, spaces, combining marks stay
    ascii_members = {c for c in chars if c.isascii()}
    assert ascii_members == set(string.punctuation)


def test_counts_and_corpus_statistics(make_matcher):
    m = make_matcher(["dog", "bark"])
    c = m.count(["A dog.", "", "Dog and dog bark", "nothing here"])
    assert c.caption_words.tolist() == [2, 0, 4, 2]
    assert c.caption_concepts.tolist() == [1, 0, 3, 0]
    assert (c.n_captions, c.n_words, c.n_concepts) == (4, 8, 4)
    assert c.acd == pytest.approx(50.0)
    assert c.avg_len == pytest.approx(2.0)
    assert c.with_concept == pytest.approx(0.5)
    assert c.top(1) == [("dog", 3)]
    s = c.summary(5)
    assert s["top_concepts"] == [{"concept": "dog", "count": 3}, {"concept": "bark", "count": 1}]


def test_block_processing_equals_one_caption_at_a_time(make_matcher, monkeypatch):
    """Chunk boundaries, separators inside captions and non-ASCII captions do not change the counts."""
    monkeypatch.setattr(acd_mod, "CHUNK", 7)
    m = make_matcher(["dog", "dog bark", "écho", "bark"], "every", punct="space")
    rng = random.Random(0)
    vocab = ["dog", "bark", "Dog,", "bark!", "écho", "ÉCHO", "x\x00dog", "a", "the", "-", "«dog»", " ", "\n"]
    caps = [
        "".join(rng.choice(vocab) + rng.choice([" ", "", "  "]) for _ in range(rng.randint(0, 8)))
        for _ in range(60)
    ]
    got = m.count(caps, keep_matches=True)
    for i, cap in enumerate(caps):
        single = m.count([cap])
        assert got.caption_words[i] == single.n_words == len(words(cap.replace("\x00", " "), "space"))
        assert got.caption_concepts[i] == single.n_concepts == len(m.match(cap.replace("\x00", " ")))
        assert sorted(got.matches[i]) == sorted(x.concept for x in m.match(cap.replace("\x00", " ")))


def test_matcher_agrees_with_a_regex_per_concept(shared_data):
    """The one-pass automaton finds exactly what the naive loop of word-boundary regexes finds."""
    from valor_data.captions.readers import read_captions

    caps = read_captions(shared_data / "valor32k" / "desc_val.json").texts[:400]
    matcher = matcher_for("paper")
    pats = {c: re.compile(r"(?<!\S)" + re.escape(c) + r"(?!\S)") for c in matcher.concepts}
    counts = matcher.count(caps, keep_matches=True)
    for i, cap in enumerate(caps):
        text = normalize(cap, PRESETS["paper"].concepts.punct)
        expected = sorted(c for c, p in pats.items() for _ in p.findall(text))
        assert sorted(counts.matches[i]) == expected


def test_concat_and_empty_input(make_matcher):
    m = make_matcher(["dog"])
    empty = m.count([])
    assert (empty.n_captions, empty.acd, empty.avg_len, empty.with_concept) == (0, 0.0, 0.0, 0.0)
    both = AcdCounts.concat([m.count(["dog"]), m.count(["a cat", "dog dog"])])
    assert both.caption_concepts.tolist() == [1, 0, 2]
    assert np.array_equal(both.concept_counts, [3])


def test_presets_are_documented_and_unknown_ones_fail():
    for name, preset in PRESETS.items():
        assert len(preset.doc) > 40, name
    with pytest.raises(ValueError, match="unknown ACD preset"):
        matcher_for("nope")
    assert acd_of(["A dog barks at a car."], "paper").n_concepts == 2  # dog, car ("barks" is another word)
