"""`valor-model train` / `predict` as a user types them, and their one-line errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from valor_model.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_train_then_predict_end_to_end_in_process(shards, tmp_path):
    out = tmp_path / "run"
    train_dir = shards.train[0].parent
    res = invoke("train", "--config", "tiny", "--train-shards", f"{train_dir}/train-{{000000..000003}}.tar",
                 "--val-shards", str(shards.test[0]), "--out", str(out), "--batch-size", "4", "--max-steps", "2",
                 "--num-workers", "0", "--no-progress", "--json", "--override", "audio.slice_frames=256",
                 "--groups", "tv,tav")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["samples"]["ok"] >= 8
    config = json.loads((out / "model_config.json").read_text())
    assert config["groups"] == ["tv", "tav"] and config["audio"]["slice_frames"] == 256
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "loss_mga", "loss_mgc", "lr", "samples_per_s"} <= set(metrics[0])
    assert "mgc_ta" not in metrics[0] and any(m.get("split") == "val" for m in metrics)
    res = invoke("predict", "--task", "avr", "--checkpoint", str(out), "--shards", str(shards.test[0]),
                 "--out", str(tmp_path / "sub.npz"), "--annotations-out", str(tmp_path / "gt.json"),
                 "--num-workers", "0", "--no-progress", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["videos"] == 8
    assert (tmp_path / "sub.npz").is_file() and (tmp_path / "gt.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-shards", "/nonexistent/train-{000000..000001}.tar"], "no such shard file"),
        (["--config", "huge"], "unknown model config"),
        (["--override", "audio.nonsense=3"], "unknown audio key"),
        (["--groups", "tv,xx"], "--groups"),
        (["--max-steps", "0"], "'--max-steps': 0 is not in the range x>=1"),
    ],
)
def test_train_errors_are_one_clear_line(shards, tmp_path, args, message):
    base = {"--config": "tiny", "--train-shards": str(shards.train[0].parent), "--out": str(tmp_path / "o"),
            "--max-steps": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["train", *[x for kv in base.items() for x in kv], "--no-progress"]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert "Traceback" not in res.output


def test_predict_error_is_one_line(shards, tmp_path):
    res = CliRunner().invoke(main, ["predict", "--task", "avc", "--checkpoint", str(tmp_path / "missing"),
                                    "--shards", str(shards.test[0]), "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "--checkpoint" in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_cli_subprocesses_train_predict_validate(shards, tmp_path, cli):
    """The real console entry points in fresh processes, then valor-bench validate + evaluate."""
    out = tmp_path / "run"
    res = cli("train", "--config", "tiny", "--train-shards", str(shards.train[0].parent), "--out", str(out),
              "--batch-size", "4", "--epochs", "1", "--num-workers", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    for task, name in (("avr", "sub.npz"), ("avc", "sub.json")):
        res = cli("predict", "--task", task, "--checkpoint", str(out), "--shards", str(shards.test[0]),
                  "--out", str(tmp_path / name), "--modality", "av", "--no-progress")
        assert res.returncode == 0, res.stderr
        bench = subprocess.run([sys.executable, "-m", "valor_bench.cli", "evaluate", str(tmp_path / name), "--task",
                                task, "--annotations", str(shards.test_annotations), "--json"],
                               capture_output=True, text=True, check=False)
        assert bench.returncode == 0, bench.stdout + bench.stderr
        assert json.loads(bench.stdout)["metrics"]


def test_train_without_the_hub_weights_says_the_cli_spelling(shards, tmp_path, monkeypatch):
    """Offline, a config naming hub weights ends in one line that names --override random_init=true."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["train", "--config", "tiny", "--override", 'vision.weights="valor-test/no-such-model"',
            "--train-shards", str(shards.train[0].parent), "--out", str(tmp_path / "o"), "--max-steps", "1",
            "--num-workers", "0", "--no-progress"]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: cannot load vision weights 'valor-test/no-such-model'")
    assert "--override random_init=true" in lines[0]


def test_train_base_offline_fails_fast_with_one_line(shards, tmp_path, cli):
    with socket.socket() as closed:  # the hub endpoint: a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    start = time.perf_counter()
    res = cli("train", "--config", "base", "--train-shards", str(shards.train[0].parent), "--out",
              str(tmp_path / "o"), "--max-steps", "1", "--no-progress", timeout=120,
              env={"HF_ENDPOINT": endpoint, "HF_HUB_CACHE": str(tmp_path / "cache")})
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: cannot load"), res.stderr
    assert "not cached and 127.0.0.1" in lines[0] and "--override random_init=true" in lines[0]
    assert time.perf_counter() - start < 20  # the hub client alone retried for ~29 s
