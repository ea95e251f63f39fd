"""Live hints for a caption being written: its words, the audio concepts it names (the ACD matcher's, with
their place in the text so a page can highlight them), a warning when it describes no sound, and the
closest caption among its neighbours when it is nearly a copy of one.

The paper asks annotators to describe what is *heard* as well as what is seen; a caption without any
audio concept is the most common problem of a first stage (reason ``no-sound``), and an annotator who
pastes the same caption on many clips the second (near duplicates).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from valor_data.captions.acd import ConceptMatcher
from valor_data.captions.concepts import split_name
from valor_data.captions.textnorm import words

NEAR_DUPLICATE = 0.8  # word-set Jaccard similarity from which a caption counts as a near copy
# Words that describe sound without naming an AudioSet class: a caption using one describes a sound.
SOUND_WORDS = frozenset(
    "sound sounds sounding audio audible hear hears heard hearing listen listens noise noises noisy loud loudly "
    "quiet quietly silent silence voice voices says say saying said talk talks talking speaks speaking "
    "sings sing singing song music musical melody tune beat rhythm echo echoes".split())
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Concept:
    """An audio concept found in the text: characters ``[start, end)`` of the text as typed."""

    start: int
    end: int
    concept: str


@dataclass(frozen=True)
class Hints:
    words: int  # counted as the campaign's minimum-words rule counts them (punctuation deleted)
    concepts: tuple[Concept, ...]
    labels_named: tuple[str, ...]
    no_sound: bool
    near_duplicate_of: str | None
    similarity: float

    def as_json(self) -> dict:
        return {"words": self.words, "concepts": [[c.start, c.end, c.concept] for c in self.concepts],
                "labels_named": list(self.labels_named), "no_sound": self.no_sound, "near_duplicate_of": self.near_duplicate_of,
                "similarity": round(self.similarity, 3)}


def word_spans(text: str, punct: str) -> list[tuple[int, int]]:
    """For every normalised word of ``text`` (as the matcher counts them), the characters of the
    whitespace token it came from: a concept's words map back to what the person typed."""
    spans = []
    for m in _TOKEN.finditer(text):
        spans += [(m.start(), m.end())] * len(words(m.group(), punct))
    return spans


def similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def named_labels(tokens: list[str], labels: Iterable[str], punct: str) -> tuple[str, ...]:
    """The labels one of whose names ("Dog", "Bark" of "Bark, dog") the text holds as whole words."""
    padded = f" {' '.join(tokens)} "
    return tuple(label for label in labels
                 if any(f" {' '.join(words(piece, punct))} " in padded for piece in split_name(label)))


def hints(text: str, labels: Iterable[str], matcher: ConceptMatcher,
          neighbours: Mapping[str, str]) -> Hints:
    """Hints for ``text``; ``labels`` are the clip's AudioSet names, ``neighbours`` other captions by clip id
    (e.g. the author's recent ones)."""
    punct = matcher.punct
    spans = word_spans(text, punct)
    found = tuple(Concept(spans[m.start][0], spans[m.end - 1][1], m.concept) for m in matcher.match(text))
    tokens = words(text, punct)
    token_set = set(tokens)
    no_sound = bool(tokens) and not found and not token_set & SOUND_WORDS
    best_id, best = None, 0.0
    for clip_id, other in neighbours.items():
        s = similarity(token_set, set(words(other, punct)))
        if s > best:
            best_id, best = clip_id, s
    return Hints(len(words(text)), found, named_labels(tokens, labels, punct), no_sound, best_id if best >= NEAR_DUPLICATE else None, best)
