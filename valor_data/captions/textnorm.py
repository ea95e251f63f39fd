"""The one text normalisation that ACD applies to captions *and* to concept names.

The VALOR paper (Sec. 3.4) lowercases and "removes punctuation" without saying which characters; this is
our exact, Unicode-aware reading of it, shared by both sides so a concept and a caption always agree:

1. Text that is not pure ASCII is NFKC-normalised first (full-width letters, ligatures and compatibility
   forms fold to their plain letters: "ｄｏｇ" → "dog", "ﬁre" → "fire").
2. ``str.lower()`` (Unicode lowercase; "ÉCHO" → "écho").
3. Punctuation is every character whose Unicode general category is P* (punctuation: ``. , ; : ! ? ' "
   - – — _ ( ) [ ] { } / \\ @ # % & *`` and their Unicode cousins such as « » ‘ ’ “ ” ¿ ¡ …) or S* (symbols:
   ``$ + < = > ^ ` | ~``, ©, €, emoji, ...). Together P* and S* are a superset of ``string.punctuation``.
   Each punctuation character is **deleted** by default (``"man's"`` → ``"mans"``, ``"hi-hat"`` →
   ``"hihat"``, ``"cock-a-doodle-doo"`` → ``"cockadoodledoo"``), which is what ``str.translate`` with
   ``string.punctuation`` does in the usual implementation of "remove punctuation"; ``punct="space"``
   replaces it with a space instead (``"hi hat"``, ``"man s"``) — the ACD preset ``paper`` does that.
4. Words are the whitespace-separated tokens of the result (``str.split()``: any Unicode whitespace).

Letters, digits and combining marks (accents) are kept.
"""

from __future__ import annotations

import string
import sys
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Literal

PunctMode = Literal["delete", "space"]
PUNCT_MODES: tuple[str, ...] = ("delete", "space")
PUNCT_CATEGORIES = ("P", "S")
_BYTES_PUNCT = string.punctuation.encode("ascii")  # the ASCII members of P* and S* (checked by the tests)
_BYTES_SPACE = bytes.maketrans(_BYTES_PUNCT, b" " * len(_BYTES_PUNCT))


@cache
def punctuation_chars() -> frozenset[str]:
    """Every code point counted as punctuation (general category P* or S*)."""
    return frozenset(
        chr(cp) for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] in PUNCT_CATEGORIES
    )


@cache
def _table(punct: str, ascii_only: bool = False) -> dict[int, str | None]:
    """The ``str.translate`` table; the ASCII-only one (exactly ``string.punctuation``) is ~4x faster."""
    if punct not in PUNCT_MODES:
        raise ValueError(f"unknown punctuation mode {punct!r}: choose one of {', '.join(PUNCT_MODES)}")
    repl = None if punct == "delete" else " "
    return {ord(c): repl for c in punctuation_chars() if not ascii_only or c.isascii()}


def _strip(text: str, punct: str) -> str:
    if text.isascii():
        return text.lower().translate(_table(punct, True))
    return unicodedata.normalize("NFKC", text).lower().translate(_table(punct))


def normalize(text: str, punct: PunctMode = "delete") -> str:
    """Lowercase, strip punctuation, collapse whitespace: ``"A dog, barking!"`` → ``"a dog barking"``."""
    return " ".join(words(text, punct))


def words(text: str, punct: PunctMode = "delete") -> list[str]:
    """The words of ``text`` after normalisation (see the module docstring for the exact rule)."""
    return _strip(text, punct).split()


def normalize_block(texts: Sequence[str], sep: str, punct: PunctMode = "delete") -> str:
    """Normalise many texts at once, joined by ``f" {sep} "`` (``sep`` must be ASCII, not punctuation).

    Same result as :func:`words` on each text (before whitespace is collapsed), but fast: the few
    non-ASCII texts take the full Unicode path one by one; then the whole block is lowercased and its
    ASCII punctuation removed as UTF-8 bytes, which is ~10x faster than ``str.translate`` on a block
    that holds a single non-ASCII character.
    """
    parts = [t if t.isascii() else _strip(t, punct) for t in texts]
    data = f" {sep} ".join(parts).lower().encode("utf-8")
    if punct == "space":
        data = data.translate(_BYTES_SPACE)
    else:
        data = data.translate(None, _BYTES_PUNCT)
    return data.decode("utf-8")


# Characters Java's PTBTokenizer reads as a line end: a caption holding one shifts every later caption
# onto the wrong clip inside pycocoevalcap, silently. ("\n" is safe: pycocoevalcap replaces it.)
LINE_BREAKS = {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f", "\x85": "\\x85", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def line_break_in(text: str) -> str | None:
    """The escaped name of the first tokenizer-breaking line-break character in ``text``, if any."""
    for ch, name in LINE_BREAKS.items():
        if ch in text:
            return name
    return None
