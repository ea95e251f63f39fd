"""The AudioSet ontology: label mid → name, and each label's top-level category.

Used to put names next to label ids in shards, to derive ACD concepts and to break benchmark scores down
by audio class.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from valor_data.resources import ontology_path


@dataclass(frozen=True)
class AudioClass:
    mid: str
    name: str
    children: tuple[str, ...]
    abstract: bool
    blacklisted: bool


class Ontology:
    def __init__(self, classes: dict[str, AudioClass]):
        self.classes = classes
        child_ids = {c for cls in classes.values() for c in cls.children}
        # The roots: "Human sounds", "Animal", "Music", "Sounds of things", ... (7 in AudioSet).
        self.roots = tuple(mid for mid in classes if mid not in child_ids)
        self._parents: dict[str, list[str]] = {}
        for cls in classes.values():
            for child in cls.children:
                self._parents.setdefault(child, []).append(cls.mid)

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, mid: str) -> bool:
        return mid in self.classes

    def name(self, mid: str) -> str:
        """The display name, or the mid itself for an unknown label (never raises on user data)."""
        cls = self.classes.get(mid)
        return cls.name if cls else mid

    def top_level(self, mid: str) -> tuple[str, ...]:
        """Names of the root categories above ``mid`` (a class can sit under several roots)."""
        seen, stack, roots = set(), [mid], []
        while stack:
            cur = stack.pop()
            if cur in seen:
                continue
            seen.add(cur)
            parents = self._parents.get(cur, [])
            if not parents and cur in self.classes:
                roots.append(self.classes[cur].name)
            stack.extend(parents)
        return tuple(sorted(set(roots)))


def load_ontology(path: str | Path | None = None) -> Ontology:
    path = Path(path) if path else ontology_path()
    return _load(str(path))


@cache
def _load(path: str) -> Ontology:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    classes = {}
    for rec in data:
        restrictions = rec.get("restrictions", [])
        classes[rec["id"]] = AudioClass(
            mid=rec["id"],
            name=rec["name"],
            children=tuple(rec.get("child_ids", [])),
            abstract="abstract" in restrictions,
            blacklisted="blacklist" in restrictions,
        )
    return Ontology(classes)
