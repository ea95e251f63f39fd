"""What a caption must be before it is saved: UTF-8, not huge, not empty once normalised, at least the
campaign's minimum words, at most its maximum characters. The page keeps the text when it is refused."""

from __future__ import annotations

import unicodedata

from valor_data.annotate.campaign import CampaignConfig
from valor_data.captions.textnorm import words
from valor_data.web.errors import InputError

MAX_BODY_BYTES = 100 * 1024  # before any other check: a caption is a sentence or two, never a file


class CaptionRefused(InputError):
    """The caption cannot be saved: one line saying why, for the writer."""


def check_caption(text: str | bytes, config: CampaignConfig) -> str:
    """The caption as stored (NFC, whitespace runs folded to one space), or :class:`CaptionRefused`."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise CaptionRefused(f"caption: {size} bytes is too large (at most {MAX_BODY_BYTES // 1024} KB)")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CaptionRefused(f"caption: not UTF-8 text (byte {e.start})") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CaptionRefused("caption: not UTF-8 text (it holds a lone surrogate)") from None
    text = " ".join("".join(" " if unicodedata.category(ch) == "Cc" else ch
                            for ch in unicodedata.normalize("NFC", text)).split())
    n = len(words(text))
    if n == 0:
        raise CaptionRefused("caption: empty (no words once punctuation and spaces are removed)")
    if n < config.min_words:
        raise CaptionRefused(f"caption: {n} words, this campaign asks for at least {config.min_words}")
    if len(text) > config.max_chars:
        raise CaptionRefused(f"caption: {len(text)} characters, this campaign allows at most {config.max_chars}")
    return text
