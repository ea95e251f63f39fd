"""``SHA256SUMS``: the tars' sha256 in the format ``sha256sum -c SHA256SUMS`` checks (``HASH  NAME``).

The hashes come from stats.json, which ``shard`` computed while writing each tar, so a card of a
VALOR-1M-size directory does not read terabytes again; ``verify`` re-reads the tars against both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def sums_text(pairs: Iterable[tuple[str, str]]) -> str:
    """One ``{sha256}  {name}`` line per (name, sha256), in the given order (two spaces: text mode)."""
    lines = []
    for name, sha256 in pairs:
        if "\n" in name or "\\" in name:
            raise ValueError(f"{name!r}: sha256sum escapes such names; shard names never hold them")
        lines.append(f"{sha256}  {name}\n")
    return "".join(lines)


def parse_sums(text: str, source: str = "SHA256SUMS") -> dict[str, str]:
    """name -> sha256 of a sums file; a malformed line raises ValueError naming it."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{source}:{number}: not a '<sha256>  <name>' line: {line[:80]!r}")
        sums[match.group(2)] = match.group(1)
    return sums
