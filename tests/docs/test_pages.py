"""The README and the site hold together: one screen of README, markers and fences the tests understand,
links that lead somewhere, tables generated from the code kept equal to it, and every verb of the three
commands in the generated CLI reference."""

from __future__ import annotations

import re
from pathlib import Path

import click
import markdown

from valor_bench.cli import main as bench_main
from valor_data.cli import main as data_main
from valor_data.fetch.failures import reasons_table
from valor_model.cli import main as model_main

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_is_one_screen():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 250, f"README.md has {lines} lines; the rest belongs in docs/"


def test_markers_and_fences_are_understood(docs):
    problems = [p for page in docs for p in page.problems]
    problems += [f"{page.name}: after {a.name}: no such page" for page in docs for a in page.after if not a.is_file()]
    assert not problems, "\n".join(problems)


def test_relative_links_lead_to_files(docs):
    broken = []
    for page in docs:
        text = re.sub(r"```.*?```", "", page.path.read_text(), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.path.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.name}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_statuses_table_is_generated_from_clip_reasons():
    page = (ROOT / "docs" / "reference" / "statuses.md").read_text()
    block = page.split("<!-- reasons-table -->\n", 1)[1].split("\n<!-- /reasons-table -->", 1)[0]
    assert block == reasons_table()


def test_cli_reference_shows_every_verb():
    """mkdocs-click walks the lazy groups through list_commands/get_command: every verb and sub-verb is a
    heading of the generated page."""
    html = markdown.Markdown(extensions=["mkdocs-click", "attr_list", "tables"]).convert(
        (ROOT / "docs" / "reference" / "cli.md").read_text())
    headings = set(re.findall(r"<h\d[^>]*>(.*?)</h\d>", html))
    missing = []
    for group in (data_main, bench_main, model_main):
        ctx = click.Context(group)
        for verb in group.list_commands(ctx):
            command = group.get_command(ctx, verb)
            names = [verb]
            if isinstance(command, click.Group):
                names += command.list_commands(click.Context(command, parent=ctx))
            missing += [n for n in names if n not in headings]
    assert not missing, f"verbs missing from the CLI reference: {missing}"
    assert "Sentinel" not in html, "an option default renders as click's internal sentinel"


def test_readme_verb_table_lists_every_verb():
    rows, cli = set(), None
    for line in (ROOT / "README.md").read_text().split("\n"):
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and line.startswith("|"):
            cli = cells[0] or cli
            rows.add((cli, cells[1]))
    for name, group in (("valor-data", data_main), ("valor-bench", bench_main), ("valor-model", model_main)):
        verbs = {(name, v) for v in group.list_commands(click.Context(group))}
        assert verbs <= rows, f"README's verb table lacks {sorted(verbs - rows)}"
