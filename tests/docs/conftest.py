"""The code blocks of the README and of the documentation site, read once for every docs test.

A block is a fenced code block with its language; the HTML comment ``<!-- docs-test: ... -->`` on the
line before it says what it needs (docs/docs-tests.md lists the markers). Each test receives what it
checks through a parametrized fixture: ``doc_command`` (one shell command of a bash block), ``doc_page``
(a page whose blocks run), ``docs`` (every page).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

NEEDS = ("youtube", "gpu", "cluster", "long")  # parsed, never run
LANGS = ("bash", "python", "text")  # text: output or a file layout, never run
MARKER = re.compile(r"^<!-- docs-test: (\S+)(?: (\S+))? -->$")
FENCE = re.compile(r"^```(\S*)\s*$")
CLIS = ("valor-data", "valor-bench", "valor-model")
SHELL_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")"}
REDIRECTS = {">", ">>", "<", ">&", "&>", "<<"}
SHELL_KEYWORDS = {"do", "then", "else", "!", "time"}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    needs: str | None = None  # one of NEEDS: parsed only
    background: str | None = None  # URL that answers once the backgrounded block is up

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)
    after: list[Path] = field(default_factory=list)
    slow: bool = False
    free_port: str | None = None
    problems: list[str] = field(default_factory=list)  # malformed markers and fences

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.lang in ("bash", "python") and not b.needs]


def read_page(path: Path) -> Page:
    """Split one markdown file into its fenced blocks and markers."""
    page = Page(path)
    lines = path.read_text().split("\n")
    pending: tuple[str, str | None] | None = None  # the block marker on the line before a fence
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line.strip())
        if marker:
            key, arg = marker.groups()
            if key == "after":
                page.after.append(ROOT / "docs" / arg)
            elif key == "slow":
                page.slow = True
            elif key == "free-port":
                page.free_port = arg
            elif key in NEEDS or key == "background":
                pending = (key, arg)
            else:
                page.problems.append(f"{path.name}:{i + 1}: unknown docs-test marker {key!r}")
            i += 1
            continue
        fence = FENCE.match(line)
        if fence:
            lang, start = fence.group(1), i + 1
            body = []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            if lang not in LANGS:
                page.problems.append(f"{path.name}:{start}: a fenced block names no language of {LANGS}: {lang!r}")
            block = Block(path, start, lang, "\n".join(body) + "\n")
            if pending and pending[0] == "background":
                block.background = pending[1]
            elif pending:
                block.needs = pending[0]
            page.blocks.append(block)
            pending = None
        elif line.strip() and pending:
            page.problems.append(f"{path.name}:{i + 1}: a docs-test marker not followed by a fenced block")
            pending = None
        i += 1
    return page


def shell_commands(code: str) -> list[list[str]]:
    """The simple commands of a bash block: continuations joined, comments and redirections dropped."""
    commands = []
    for line in code.replace("\\\n", " ").split("\n"):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words, tokens, skip = [], list(lexer), False
        for k, tok in enumerate(tokens):
            if skip:
                skip = False
            elif tok in SHELL_SEPARATORS:
                if words:
                    commands.append(words)
                words = []
            elif tok in REDIRECTS:
                skip = True
            elif tok.isdigit() and k + 1 < len(tokens) and tokens[k + 1] in REDIRECTS:
                continue
            elif not words and tok in SHELL_KEYWORDS:
                continue
            else:
                words.append(tok)
        if words:
            commands.append(words)
    return commands


def checked_command(words: list[str]) -> tuple[str, list[str]] | None:
    """``(program, args)`` for a command the docs tests check: a valor CLI (also under torchrun or
    spark-submit), a benchmark script or a make target; None for other programs."""
    if words[0] in CLIS:
        return words[0], words[1:]
    if words[0] == "torchrun" and "valor_model.cli" in words:
        return "valor-model", words[words.index("valor_model.cli") + 1:]
    if words[0] == "spark-submit":
        for k, w in enumerate(words):
            for package, cli in zip(("valor_data", "valor_bench", "valor_model"), CLIS, strict=True):
                if f"{package}.cli" in w:
                    return cli, words[k + 1:]
    if words[0] == "python" and len(words) > 1 and words[1].startswith("benchmarks/"):
        return words[1], words[2:]
    if words[0] == "make":
        return "make", words[1:]
    return None


def all_pages() -> list[Page]:
    return [read_page(p) for p in PAGES]


def inline_commands(path: Path) -> list[tuple[str, str]]:
    """``(where, span)`` for each inline code span of prose that starts with a valor CLI and a verb."""
    text = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), path.read_text(), flags=re.S)
    spans = []
    for match in re.finditer(r"`([^`]+)`", text):
        words = match.group(1).split()
        if len(words) > 1 and words[0] in CLIS:
            line = text.count("\n", 0, match.start()) + 1
            spans.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return spans


def all_commands() -> list[tuple[str, str, list[str]]]:
    """``(where, program, args)`` for every checked command of every bash block and inline code span."""
    found = []
    for page in all_pages():
        sources = [(b.where, b.code) for b in page.blocks if b.lang == "bash"] + inline_commands(page.path)
        for where, code in sources:
            for words in shell_commands(code):
                checked = checked_command(words)
                if checked:
                    found.append((where, *checked))
    return found


def pytest_generate_tests(metafunc):
    if "doc_command" in metafunc.fixturenames:
        commands = all_commands()
        metafunc.parametrize("doc_command", commands, ids=[f"{w}:{p} {' '.join(a[:2])}" for w, p, a in commands])
    if "doc_page" in metafunc.fixturenames:
        pages = [p for p in all_pages() if p.runnable]
        metafunc.parametrize("doc_page", [pytest.param(p, marks=[pytest.mark.slow] if p.slow else [], id=p.name)
                                          for p in pages])
    if "docs" in metafunc.fixturenames:
        metafunc.parametrize("docs", [all_pages()], ids=["all pages"])


@pytest.fixture
def read_doc_page():
    """read_doc_page(path) -> Page: a page named by another page's ``after`` marker."""
    return read_page
