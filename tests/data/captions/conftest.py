"""Fixtures for the ACD / split / stats tests: a hand-made concept set, the reference data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from valor_data.captions.acd import ConceptMatcher
from valor_data.captions.concepts import ConceptOptions, ConceptSet

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def concept_set(
    concepts: list[str], punct: str = "delete", forms: dict[str, str] | None = None
) -> ConceptSet:
    all_forms = {c: c for c in concepts}
    all_forms.update(forms or {})
    return ConceptSet(
        tuple(concepts), {c: () for c in concepts}, len(concepts), all_forms, ConceptOptions(punct=punct)
    )


@pytest.fixture
def make_matcher():
    """make_matcher(["dog", "dog bark"], count="every", punct="delete", forms=None) -> ConceptMatcher."""

    def make(concepts, count="every", punct="delete", forms=None):
        return ConceptMatcher(concept_set(concepts, punct, forms), count)

    return make


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "valor32k" / "desc_test.json").is_file():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA
