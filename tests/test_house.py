"""The house rules that keep the code easy to change, checked on every run: the import contracts in
pyproject.toml (layers, no cycles), no imports hidden inside functions except optional extras that say why,
and no dead code (vulture at 60 % confidence, with the reasoned whitelist)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("valor_data", "valor_bench", "valor_model")
# What `pip install valor` always brings (pyproject's [project] dependencies): never an optional extra.
CORE = {"click", "rich", "tqdm", "numpy", "pandas", "pyarrow"}
BIN = Path(sys.executable).parent


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _comment_above(lines: list[str], lineno: int) -> str:
    """The comment heading the block of imports that holds line ``lineno`` (1-based): a comment line, or the
    comment of the ``try:`` that guards the block."""
    i = lineno - 2
    while i >= 0 and (not lines[i].strip() or lines[i].strip().startswith(("import ", "from "))):
        i -= 1
    head = lines[i].strip() if i >= 0 else ""
    return head if head.startswith(("#", "try:")) else ""


def _function_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, top-level module, source line + the comment heading its block) of every import inside a
    function body."""
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for fn in ast.walk(ast.parse(text)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                tops = [(node.module or "").split(".")[0] if node.level == 0 else PACKAGES[0]]
            else:
                continue
            found += [(node.lineno, top, lines[node.lineno - 1] + "  " + _comment_above(lines, node.lineno))
                      for top in tops]
    return sorted(set(found))


def test_import_contracts_hold():
    """lint-imports: valor_data never imports valor_bench/valor_model, stages never import commands, no cycles."""
    run = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_imports_inside_functions_are_optional_extras_with_a_reason():
    """Imports sit at the top; inside a function only what needs an optional extra, with a comment saying so."""
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in _sources():
        for lineno, top, line in _function_imports(path):
            where = f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}"
            if top in CORE or top in stdlib:
                bad.append(f"{where}  (not an optional extra: import it at the top)")
            elif "optional" not in line.partition("#")[2]:
                # Our own modules count only when they need an extra, and the comment says which.
                bad.append(f"{where}  (import it at the top, or say which optional extra it needs)")
    assert not bad, "\n".join(bad)


def test_no_dead_code():
    whitelist = ROOT / "vulture_whitelist.py"
    args = [str(BIN / "vulture"), *PACKAGES, *([str(whitelist)] if whitelist.exists() else []),
            "--min-confidence", "60"]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

