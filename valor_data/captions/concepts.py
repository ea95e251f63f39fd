"""Audio concepts for ACD, derived from the AudioSet ontology's 632 class names.

The VALOR paper (Sec. 3.4) takes the AudioSet class names as the audio-concept set, splits a name that
lists several similar concepts into separate ones, lowercases them, removes punctuation and reports 759
concepts. It does not say how a name is split, so the derivation is an option (counts on the shipped
ontology, checked by the tests):

========================  =======================================================  ======  ======
``split``                 what a name becomes                                      pieces  unique
========================  =======================================================  ======  ======
``commas``                "Chicken, rooster" → chicken / rooster;                   727     724
                          "Keyboard (musical)" → "keyboard musical"
``commas+parens``         also splits on parentheses: "Keyboard (musical)" →        758     738
                          keyboard / musical; "Roaring cats (lions, tigers)" →
                          roaring cats / lions / tigers
``drop-parens``           drops the parenthesised qualifier: "Keyboard (musical)"   726     717
                          → keyboard; "Police car (siren)" → police car
========================  =======================================================  ======  ======

``commas+parens`` gives 758 pieces, the closest to the paper's 759. Further options, each one a reading of
the paper's wording:

* ``connectives``: a piece that starts with "and"/"or" loses it ("Dishes, pots, and pans" → pans) and
  the "etc." of "Bee, wasp, etc." is dropped (it is no concept).
* ``plurals``: a concept also matches the regular English plural of its last word ("dog" → "dogs",
  "bus" → "buses", "fly" → "flies", "mouse" → "mice"); the match counts as the concept. The same
  ending makes the third person of a verb ("beep" → "beeps").
* ``verb_forms``: a concept also matches the -ing and -ed forms of its last word ("bark" → "barking",
  "barked"; "whistle" → "whistling"; "hum" → "humming"; "cry" → "cried"). Regular English rules only:
  a one-syllable word ending consonant-vowel-consonant doubles its last letter.
* ``abstract`` / ``blacklisted``: keep (default) or drop the classes the ontology marks abstract (23, e.g.
  "Human sounds") or blacklisted (67, e.g. "Song"); the paper uses all 632.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from valor_data.captions.textnorm import PunctMode, normalize
from valor_data.ontology import Ontology, load_ontology

SplitMode = Literal["commas", "commas+parens", "drop-parens"]
SPLIT_MODES: tuple[str, ...] = ("commas", "commas+parens", "drop-parens")

_CONNECTIVES = ("and ", "or ")
_NOT_CONCEPTS = frozenset({"etc"})
_IRREGULAR_PLURALS = {
    "mouse": "mice",
    "goose": "geese",
    "child": "children",
    "man": "men",
    "woman": "women",
    "foot": "feet",
    "tooth": "teeth",
    "ox": "oxen",
    "knife": "knives",
    "wolf": "wolves",
    "leaf": "leaves",
}
_INVARIANT_PLURALS = frozenset({"sheep", "fish", "deer", "moose", "aircraft", "music", "speech", "silence"})


@dataclass(frozen=True)
class ConceptOptions:
    """How concepts are derived from class names (see the module docstring for each option)."""

    split: SplitMode = "commas+parens"
    connectives: bool = False
    plurals: bool = False
    verb_forms: bool = False
    abstract: bool = True
    blacklisted: bool = True
    punct: PunctMode = "delete"

    def __post_init__(self) -> None:
        if self.split not in SPLIT_MODES:
            raise ValueError(f"unknown split mode {self.split!r}: choose one of {', '.join(SPLIT_MODES)}")


@dataclass(frozen=True)
class ConceptSet:
    """The derived concepts: unique normalised phrases, their classes, and the surface forms that match."""

    concepts: tuple[str, ...]
    mids: dict[str, tuple[str, ...]]
    pieces: int  # pieces before de-duplication (the paper's 759 is closest to this count)
    forms: dict[str, str] = field(repr=False)  # surface form (normalised, e.g. a plural) -> concept
    options: ConceptOptions = ConceptOptions()

    def __len__(self) -> int:
        return len(self.concepts)


def split_name(name: str, split: SplitMode = "commas+parens") -> list[str]:
    """The raw pieces of one class name (before normalisation)."""
    if split == "commas+parens":
        parts = re.split(r"[,()]", name)
    elif split == "drop-parens":
        parts = re.sub(r"\([^)]*\)", " ", name).split(",")
    else:
        parts = name.split(",")
    return [p.strip() for p in parts if p.strip()]


def plural(phrase: str) -> str:
    """Regular English plural of the last word of ``phrase`` ("dog bark" → "dog barks").

    Uncountable and already-plural words are left as they are (the form then equals the concept).
    """
    head, _, last = phrase.rpartition(" ")
    if last in _INVARIANT_PLURALS or (last.endswith("s") and not last.endswith(("ss", "us", "is"))):
        form = last  # uncountable, or already plural ("flapping wings", "tools")
    elif last in _IRREGULAR_PLURALS:
        form = _IRREGULAR_PLURALS[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        form = last + "es"
    elif len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
        form = last[:-1] + "ies"
    else:
        form = last + "s"
    return f"{head} {form}" if head else form


def _doubles_last(word: str) -> bool:
    """One syllable ending consonant-vowel-consonant ("hum", "tap", not "roar", "bark", "box"): the last
    letter doubles before -ing/-ed."""
    vowels = "aeiou"
    return (len(word) >= 3 and word[-1] not in vowels + "wxy" and word[-2] in vowels
            and word[-3] not in vowels and len(re.findall(r"[aeiouy]+", word)) == 1)


def present_participle(word: str) -> str:
    """The regular -ing form: "bark" → "barking", "whistle" → "whistling", "hum" → "humming"."""
    if word.endswith("ie"):
        return word[:-2] + "ying"
    if word.endswith("e") and not word.endswith(("ee", "oe", "ye")) and len(word) > 2:
        return word[:-1] + "ing"
    return word + (word[-1] if _doubles_last(word) else "") + "ing"


def past_tense(word: str) -> str:
    """The regular -ed form: "bark" → "barked", "whistle" → "whistled", "cry" → "cried", "tap" → "tapped"."""
    if word.endswith("e"):
        return word + "d"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ied"
    return word + (word[-1] if _doubles_last(word) else "") + "ed"


def inflected_forms(concepts: Iterable[str], options: ConceptOptions) -> dict[str, str]:
    """Surface form → concept: each concept itself, then the inflections ``options`` turn on (of the last
    word). A form that is itself a concept stays that concept."""
    forms = {c: c for c in concepts}
    for c in list(forms):
        head, _, last = c.rpartition(" ")
        extra = [plural(c)] if options.plurals else []
        if options.verb_forms and not last.endswith("ing"):
            extra += [f"{head} {f}" if head else f for f in (present_participle(last), past_tense(last))]
        for form in extra:
            forms.setdefault(form, c)
    return forms


def _clean(piece: str, connectives: bool) -> str:
    if connectives:
        for word in _CONNECTIVES:
            if piece.startswith(word):
                piece = piece[len(word) :]
        if piece in _NOT_CONCEPTS:
            return ""
    return piece


def derive_concepts(options: ConceptOptions | None = None, ontology: Ontology | None = None) -> ConceptSet:
    """Split, normalise and de-duplicate the class names of ``ontology`` (default: the shipped one)."""
    options = options or ConceptOptions()
    ontology = ontology or load_ontology()
    mids: dict[str, list[str]] = {}
    pieces = 0
    for cls in ontology.classes.values():
        if (cls.abstract and not options.abstract) or (cls.blacklisted and not options.blacklisted):
            continue
        for raw in split_name(cls.name, options.split):
            piece = _clean(normalize(raw, options.punct), options.connectives)
            if not piece:
                continue
            pieces += 1
            mids.setdefault(piece, [])
            if cls.mid not in mids[piece]:
                mids[piece].append(cls.mid)
    concepts = tuple(mids)
    forms = inflected_forms(concepts, options)
    return ConceptSet(concepts, {c: tuple(m) for c, m in mids.items()}, pieces, forms, options)


def count_table(ontology: Ontology | None = None) -> list[dict[str, object]]:
    """Pieces and unique concepts for every split mode (documents the 727/724 and 758/738 figures)."""
    rows = []
    for split in SPLIT_MODES:
        cs = derive_concepts(ConceptOptions(split=split), ontology)
        rows.append({"split": split, "pieces": cs.pieces, "unique": len(cs)})
    return rows


def parse_concept_file(lines: Iterable[str]) -> list[str]:
    """A user-supplied concept list: one concept per line, ``#`` comments and blank lines skipped."""
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def concepts_from_file(path: str | os.PathLike, options: ConceptOptions | None = None) -> ConceptSet:
    """The concepts listed in a user's file (``acd --concepts FILE``), normalised like captions with
    ``options.punct`` and de-duplicated; they come from no AudioSet class, so ``mids`` are empty.
    Raises ValueError naming the file when it is unreadable or lists no concept."""
    options = options or ConceptOptions()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--concepts {path}: cannot read it ({e})") from None
    raw = parse_concept_file(lines)
    concepts = tuple(dict.fromkeys(c for c in (normalize(r, options.punct) for r in raw) if c))
    if not concepts:
        raise ValueError(f"--concepts {path}: no concept in it (one per line; '#' starts a comment)")
    return ConceptSet(concepts, {c: () for c in concepts}, len(raw), inflected_forms(concepts, options), options)
