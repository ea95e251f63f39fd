"""The campaign's guidelines (Markdown, written by the host) as HTML for the guidelines page.

Raw HTML in the Markdown is shown as text, not passed on: the page must carry no markup that a guidelines
file slips in (the CSP forbids inline script as well). Links keep markdown-it's check, which drops
``javascript:`` and ``data:`` URLs.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def guidelines_html(text: str) -> Markup:
    """``text`` rendered as CommonMark with tables, every raw HTML tag escaped."""
    return Markup(_MARKDOWN.render(text))
