"""Reading a YAML config file (a challenge's challenge.yaml, a campaign's campaign.yaml) with errors a person
can act on: every refusal names the file, the key's path and what was expected, in one line, and an unknown
key is refused rather than ignored (a typo never silently leaves a default in place)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class ConfigReader:
    """Typed access to one mapping of a config file; an app subclasses it, naming its ``error`` class and
    adding the value types it needs."""

    error: ClassVar[type[Exception]] = ValueError

    def __init__(self, source: Path, where: str, data: object, known: set[str]):
        if not isinstance(data, dict):
            raise self.error(f"{source}: {where or 'top level'}: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(map(str, data)) - known)
        if unknown:
            raise self.error(f"{source}: {where + ': ' if where else ''}unknown key {unknown[0]!r} "
                             f"(known: {', '.join(sorted(known))})")
        self.source, self.where, self.data = source, where, data

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, expected: str) -> Exception:
        return self.error(f"{self.source}: {self.key(name)}: expected {expected}, got {self.data.get(name)!r}")

    def missing(self, name: str) -> Exception:
        return self.error(f"{self.source}: {self.key(name)}: missing")

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "true or false")
        return value

    def number(self, name: str, default: float) -> float:
        """A number > 0."""
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(name, "a number > 0")
        return float(value)
