"""Every command shown in a bash block of the README or the docs names a verb that exists and uses only
options that verb accepts (read from the click command itself, lazily loaded verbs included)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

from valor_bench.cli import main as bench_main
from valor_data.cli import main as data_main
from valor_model.cli import main as model_main

ROOT_CLIS = {"valor-data": data_main, "valor-bench": bench_main, "valor-model": model_main}
ROOT = Path(__file__).resolve().parents[2]


def resolve(program: str, args: list[str]) -> tuple[click.Command, list[str], str]:
    """The (sub)command that ``program args`` runs, the args left for it, and its name."""
    command, name = ROOT_CLIS[program], program
    while isinstance(command, click.Group):
        assert args and not args[0].startswith("-"), f"{name}: no verb given in {args}"
        ctx = click.Context(command, info_name=name)
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"{name} has no verb {args[0]!r} (verbs: {', '.join(command.list_commands(ctx))})"
        command, name, args = sub, f"{name} {args[0]}", args[1:]
    return command, args, name


def option_table(command: click.Command) -> dict[str, click.Option]:
    ctx = click.Context(command)
    table = {}
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            for opt in [*param.opts, *param.secondary_opts]:
                table[opt] = param
    return table


def check_click_command(program: str, args: list[str]) -> None:
    command, args, name = resolve(program, args)
    options = option_table(command)
    positional = 0
    k = 0
    while k < len(args):
        word = args[k]
        assert not word.startswith(("[", "<")), f"{name}: {word!r} is usage notation; show a command as it is typed"
        if word.startswith("-") and len(word) > 1 and not re.fullmatch(r"-[\d.]+", word):
            flag = word.split("=", 1)[0]
            assert flag in options, f"{name}: no option {flag} (options: {', '.join(sorted(options))})"
            takes_value = not options[flag].is_flag and not options[flag].count
            k += 2 if takes_value and "=" not in word else 1
        else:
            positional += 1
            k += 1
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if not any(a.nargs == -1 for a in arguments):
        assert positional <= len(arguments), f"{name}: {positional} arguments given, it takes {len(arguments)}"


def check_script(script: str, args: list[str]) -> None:
    path = ROOT / script
    assert path.is_file(), f"{script}: no such benchmark script"
    shown = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
    assert shown.returncode == 0, f"{script} --help failed: {shown.stderr[-500:]}"
    for word in args:
        if word.startswith("--"):
            assert re.search(rf"{re.escape(word.split('=')[0])}\b", shown.stdout), f"{script}: no option {word}"


def check_make(targets: list[str]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"Makefile has no target {target!r}"


def test_command_parses(doc_command):
    where, program, args = doc_command
    try:
        if program in ROOT_CLIS:
            check_click_command(program, args)
        elif program == "make":
            check_make(args)
        else:
            check_script(program, args)
    except AssertionError as error:
        raise AssertionError(f"{where}: {error}") from None


def test_the_checker_refuses_what_a_user_would_see_refused():
    """The parse check is not a formality: an unknown verb, an unknown option and too many arguments fail."""
    for program, args in [("valor-data", ["fecth", "ids.txt"]), ("valor-data", ["shard", "d", "--no-such"]),
                          ("valor-bench", ["challenge", "nope"]), ("valor-data", ["verify", "a", "b"]),
                          ("valor-data", ["split", "x.csv", "[--seed", "0]"])]:
        try:
            check_click_command(program, args)
        except AssertionError:
            continue
        raise AssertionError(f"{program} {' '.join(args)} passed the check")
    check_click_command("valor-model", ["train", "--config", "tiny", "--no-progress", "--out=runs/x"])
