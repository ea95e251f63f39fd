"""The options the three command lines share (valor_data.commands.options) mean the same everywhere, every
command that shows progress takes --no-progress, and bad values are usage errors (exit 2, click's
convention) that name the option or input."""

from __future__ import annotations

import inspect

import click
import pytest
from click.testing import CliRunner

from valor_bench.cli import main as bench_main
from valor_data.cli import main as data_main
from valor_data.commands import options
from valor_model.cli import main as model_main

CLIS = {"valor-data": data_main, "valor-bench": bench_main, "valor-model": model_main}

# valor-bench serve --workers counts worker processes started beside the web server: 0 is meaningful there
# (workers run elsewhere), so it is not the "parallel tasks" option.
NOT_SHARED = {("valor-bench serve", "workers")}

SHOWS_PROGRESS = {
    "valor-data fetch", "valor-data shard", "valor-data verify", "valor-data split", "valor-data acd",
    "valor-data annotate import",
    "valor-bench evaluate", "valor-bench submit", "valor-model train", "valor-model predict",
}  # fmt: skip


def commands() -> dict[str, click.Command]:
    """Every leaf command of the three CLIs, by its full name ("valor-bench challenge init")."""
    found: dict[str, click.Command] = {}

    def walk(prefix: str, group: click.Group) -> None:
        ctx = click.Context(group, info_name=prefix)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if isinstance(cmd, click.Group):
                walk(f"{prefix} {name}", cmd)
            else:
                found[f"{prefix} {name}"] = cmd

    for prog, group in CLIS.items():
        walk(prog, group)
    return found


COMMANDS = commands()


def reference(decorator) -> click.Option:
    """The option a shared declaration makes, applied to a throwaway command."""
    return click.command()(decorator(lambda **kw: None)).params[0]


SHARED = {
    "workers": reference(options.workers_option(2, "x")),
    "distributor": reference(options.distributor_option()),
    "spark_master": reference(options.spark_master_option),
    "as_json": reference(options.json_option()),
    "progress": reference(options.progress_option),
}


def shape(opt: click.Option) -> tuple:
    """What must agree between two declarations of one option (help and default may differ per command)."""
    return (tuple(opt.opts), tuple(opt.secondary_opts), opt.is_flag, repr(opt.type), opt.multiple)


def test_the_three_clis_have_their_verbs():
    assert {"valor-data fetch", "valor-data shard", "valor-bench evaluate", "valor-model train"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_each_shared_option_has_one_shape_wherever_it_appears(name):
    users = {cmd: p for cmd, c in COMMANDS.items() for p in c.params if p.name == name and (cmd, name) not in NOT_SHARED}
    assert users, f"no command declares {name}"
    wrong = {cmd: shape(p) for cmd, p in users.items() if shape(p) != shape(SHARED[name])}
    assert not wrong, f"{name} declared differently from valor_data.commands.options: {wrong}"


def test_distributor_commands_take_workers_and_spark_master():
    for cmd, c in COMMANDS.items():
        names = {p.name for p in c.params}
        if "spark_master" in names:
            assert {"workers", "distributor"} <= names, cmd


@pytest.mark.parametrize(
    ("args", "param", "value"),
    [
        (["--workers", "3"], "workers", 3),
        (["--distributor", "serial"], "distributor", "serial"),
        (["--spark-master", "local[2]"], "spark_master", "local[2]"),
        (["--json"], "as_json", True),
        (["--no-progress"], "progress", False),
    ],
)
def test_each_command_with_a_shared_option_accepts_it(args, param, value):
    takers = [cmd for cmd, c in COMMANDS.items() if any(p.name == param for p in c.params)]
    for cmd in takers:
        ctx = COMMANDS[cmd].make_context(cmd, list(args), resilient_parsing=True)
        assert ctx.params[param] == value, cmd


def test_every_command_that_shows_progress_takes_no_progress():
    """The documented set, and any command whose module draws a bar or scores (valor-bench's spinner)."""
    drawing = {
        cmd for cmd, c in COMMANDS.items()
        if {"progress_bar", "score", "run_train", "run_predict"} & set(vars(inspect.getmodule(c.callback)))
        or "progress=" in inspect.getsource(c.callback)
    }  # fmt: skip
    assert drawing == SHOWS_PROGRESS
    for cmd in sorted(SHOWS_PROGRESS):
        params = {p.name: p for p in COMMANDS[cmd].params}
        assert "progress" in params and "--no-progress" in params["progress"].secondary_opts, cmd


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ("valor-data shard {tmp} --out {tmp}/o --shard-size -5", "--shard-size"),
        ("valor-data shard {tmp} --out {tmp}/o --shard-bytes 0", "--shard-bytes"),
        ("valor-data shard {tmp} --out {tmp}/o --prefix a.b", "--prefix"),
        ("valor-data shard {tmp}/nosuch --out {tmp}/o", "nosuch"),
        ("valor-data shard {tmp} --out {tmp}/o --workers 0", "--workers"),
        ("valor-data verify {tmp} --workers 0", "--workers"),
        ("valor-data fetch {tmp}/nosuch.csv --out {tmp}/o", "nosuch.csv"),
        ("valor-data fetch --distributor nosuch ids.txt --out {tmp}/o", "--distributor"),
        ("valor-data fetch ids.txt --out {tmp}/o --frozen-threshold 1", "--frozen-threshold"),
        ("valor-data split {tmp}/nosuch.csv --out {tmp}/o", "nosuch.csv"),
        ("valor-data acd {tmp}/nosuch.txt", "nosuch.txt"),
        ("valor-data acd --top -1 x.txt", "--top"),
        ("valor-data stats {tmp}/nosuch.json --out {tmp}/o", "nosuch.json"),
        ("valor-data stats --top 0 --out {tmp}/o", "--top"),
        ("valor-data doctor --distributor nosuch", "--distributor"),
        ("valor-bench evaluate {tmp}/nosuch.npz --task avr", "nosuch.npz"),
        ("valor-bench validate {tmp}/nosuch.npz --task avr", "nosuch.npz"),
        ("valor-bench evaluate --dsl-scale 0 x.npz --task avr", "--dsl-scale"),
        ("valor-bench evaluate --annotations {tmp}/nosuch.json x.npz --task avr", "nosuch.json"),
        ("valor-bench availability --from-manifest {tmp}/nosuch.parquet --out {tmp}/a.txt", "nosuch.parquet"),
        ("valor-model train --config tiny --train-shards x --out {tmp}/o --batch-size 0", "--batch-size"),
        ("valor-model train --config tiny --train-shards x --out {tmp}/o --lr 0", "--lr"),
        ("valor-model train --config tiny --train-shards x --out {tmp}/o --num-workers -1", "--num-workers"),
        ("valor-model predict --task avr --checkpoint {tmp} --shards x --out y --batch-size 0", "--batch-size"),
        ("valor-model predict --task avr --checkpoint {tmp}/nosuch --shards x --out y", "nosuch"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path, argv, named):
    prog, *args = argv.format(tmp=tmp_path).split()
    res = CliRunner().invoke(CLIS[prog], args)
    assert res.exit_code == 2, res.output
    error = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and named in error[0], res.output
