"""Concept derivation from the shipped AudioSet ontology: the counts the issue measured, and each option."""

from __future__ import annotations

import pytest

from valor_data.captions.concepts import ConceptOptions, count_table, derive_concepts, plural, split_name


def test_split_modes_give_the_measured_counts():
    table = {row["split"]: (row["pieces"], row["unique"]) for row in count_table()}
    assert table["commas"] == (727, 724)
    assert table["commas+parens"] == (758, 738)
    assert table["drop-parens"] == (726, 717)


def test_split_name_examples():
    assert split_name("Chicken, rooster", "commas") == ["Chicken", "rooster"]
    assert split_name("Roaring cats (lions, tigers)", "commas+parens") == ["Roaring cats", "lions", "tigers"]
    assert split_name("Roaring cats (lions, tigers)", "drop-parens") == ["Roaring cats"]
    assert split_name("Keyboard (musical)", "commas") == ["Keyboard (musical)"]


def test_concepts_are_normalised_and_map_back_to_classes():
    cs = derive_concepts(ConceptOptions(split="commas+parens"))
    assert "keyboard" in cs.concepts and "musical" in cs.concepts
    assert "crowing" in cs.concepts and "cockadoodledoo" in cs.concepts  # hyphens deleted
    assert "and pans" in cs.concepts and "etc" in cs.concepts  # kept without --connectives
    assert len(cs.mids["siren"]) == 4  # "Siren" and the three "(siren)" vehicles share one concept
    spaced = derive_concepts(ConceptOptions(punct="space"))
    assert "cock a doodle doo" in spaced.concepts


def test_connectives_and_class_filters():
    cs = derive_concepts(ConceptOptions(connectives=True))
    assert "pans" in cs.concepts and "and pans" not in cs.concepts and "etc" not in cs.concepts
    assert (cs.pieces, len(cs)) == (757, 737)
    concrete = derive_concepts(ConceptOptions(abstract=False, blacklisted=False))
    assert "human sounds" not in concrete.concepts and "song" not in concrete.concepts
    assert "dog" in concrete.concepts and len(concrete) < 738


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("dog", "dogs"),
        ("bus", "buses"),
        ("fly", "flies"),
        ("mouse", "mice"),
        ("dog bark", "dog barks"),
        ("flapping wings", "flapping wings"),
        ("music", "music"),
        ("glass", "glasses"),
        ("key", "keys"),
    ],
)
def test_plural(phrase, expected):
    assert plural(phrase) == expected


def test_plural_forms_count_as_their_concept():
    cs = derive_concepts(ConceptOptions(plurals=True))
    assert cs.forms["cars"] == "car"
    assert cs.forms["dogs"] == "dogs"  # "Canidae, dogs, wolves" makes "dogs" a concept of its own
    assert len(cs.forms) > len(cs.concepts)
    assert all(cs.forms[c] == c for c in cs.concepts)  # a plural that is a concept itself stays itself


def test_unknown_split_mode():
    with pytest.raises(ValueError, match="unknown split mode"):
        ConceptOptions(split="semicolons")
