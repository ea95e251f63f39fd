"""The CLI verbs around the server: `challenge init/check/token`, challenge.yaml errors as one line,
`submit --server` against a live server (sidecar metadata, --wait, refusals), `worker` without a setup."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from valor_bench.cli import main
from valor_bench.server.config import ChallengeError, load_challenge
from valor_data.web.tokens import hash_secret


def invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def test_challenge_init_check_token(tmp_path):
    res = invoke("challenge", "init", tmp_path / "c")
    assert res.exit_code == 0, res.output
    token = res.output.split("host token (shown once; only its sha256 is in the file): ")[1].split()[0]
    path = tmp_path / "c" / "challenge.yaml"
    c = load_challenge(path)
    assert c.host_token_sha256 == hash_secret(token) and token not in path.read_text()
    assert list(c.phases) == ["val", "test"] and c.phases["test"].visibility == "private"
    assert [(b.task, b.name) for b in c.phases["test"].baselines] == [("avr", "VALOR-B"), ("avr", "VALOR-L"),
                                                                        ("avc", "VALOR-B"), ("avc", "VALOR-L")]
    assert c.phases["test"].baselines[3].metrics["CIDEr"] == 61.5
    again = invoke("challenge", "init", tmp_path / "c")
    assert again.exit_code == 1 and "exists" in again.output
    res = invoke("challenge", "check", path)
    assert res.exit_code == 0 and "phase test: AVR, AVC on test (3,491 clips, 3,491 captions), private" in res.output
    res = invoke("challenge", "token", path)
    new = res.output.split("new host token (shown once): ")[1].split()[0]
    assert load_challenge(path).host_token_sha256 == hash_secret(new) != hash_secret(token)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("visibility: private", "visibility: secret"), "phases[1].visibility: expected public"),
    (lambda t: t.replace("per_day: 2,", "per_day: two,"), "phases[1].limits.per_day: expected a whole number >= 1"),
    (lambda t: t.replace("registration:", "registraton:"), "unknown key 'registraton'"),
    (lambda t: t.replace("{split: test}", "{annotations: nowhere.json}"), "phases[1].ground_truth.annotations:"),
    (lambda t: t.replace("name: test", "name: val"), "phase 'val' is defined twice"),
    (lambda t: t.replace("R@1: 67.9", "R@11: 67.9"), "unknown AVR metric 't2v.R@11'"),
    (lambda t: t.replace("# closes: 2025-09-01T00:00:00Z", "closes: 2020-01-01\n    opens: 2021-01-01"),
     "closes (2020-01-01 00:00:00+00:00) is not after opens"),
    (lambda t: t + "\n  - [broken", "not valid YAML"),
])
def test_challenge_errors_are_one_line(tmp_path, edit, message):
    invoke("challenge", "init", tmp_path)
    path = tmp_path / "challenge.yaml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(ChallengeError) as e:
        load_challenge(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    res = invoke("challenge", "check", path)
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_worker_without_a_challenge_says_so(tmp_path):
    res = invoke("worker", "--db", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert res.exit_code == 1 and "no challenge is set up in this database" in res.output


def test_serve_with_a_bad_challenge_is_one_line(tmp_path):
    res = invoke("serve", "--challenge", tmp_path / "missing.yaml")
    assert res.exit_code == 1 and "no such file (create one with: valor-bench challenge init DIR)" in res.output


def test_submit_server_with_sidecar_and_wait(harness, live_server, tmp_path, avr_npz):
    token = harness.register("cli team")
    sims = avr_npz(harness.gt("val"), tmp_path / "run1.npz")
    (tmp_path / "run1.meta.json").write_text(json.dumps({"model_name": "Sidecar model", "modality": "v",
                                                         "external_data": "none"}))
    res = invoke("submit", sims, "--task", "avr", "--server", live_server, "--token", token, "--phase", "val",
                 "--url", "https://example.org/paper", "--wait")
    assert res.exit_code == 0, res.output
    assert "queued #1: " in res.output and "#1 finished: AVR val, 'Sidecar model'" in res.output
    assert "t2v: R@1 100.00" in res.output
    sub = harness.api("GET", "/api/v1/submissions/1", token).json()
    assert (sub["modality"], sub["external_data"], sub["url"]) == ("v", "none", "https://example.org/paper")
    again = invoke("submit", sims, "--task", "avr", "--server", live_server, "--phase", "val",
                   env={"VALOR_TOKEN": token})
    assert again.exit_code == 1 and "HTTP 409" in again.output and "byte-identical" in again.output
    bad = invoke("submit", sims, "--task", "avr", "--server", live_server, "--token", "vbt_wrong", "--phase", "val")
    assert bad.exit_code == 1 and "HTTP 401: unknown or revoked token" in bad.output
    ambiguous = invoke("submit", sims, "--task", "avr", "--server", live_server, "--token", token)
    assert ambiguous.exit_code == 1 and "choose one with --phase" in ambiguous.output
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (300 * 1024))
    res = invoke("submit", big, "--task", "avc", "--server", live_server, "--token", token, "--phase", "val",
                 "--model-name", "x")
    assert res.exit_code == 1 and "over the server's 0.25 MiB limit for AVC; not sent" in res.output
    failed = tmp_path / "caps.json"
    failed.write_text("[]")
    res = invoke("submit", failed, "--task", "avc", "--server", live_server, "--token", token, "--phase", "val",
                 "--model-name", "empty", "--wait")
    assert res.exit_code == 1 and "missing: video ids of the ground truth missing (10)" in res.output
    down = invoke("submit", sims, "--task", "avr", "--server", "http://127.0.0.1:9", "--token", token)
    assert down.exit_code == 1 and "cannot reach the server" in down.output
