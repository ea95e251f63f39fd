"""``valor-bench challenge init``: an example VALOR-32K challenge a host can start from and edit.

Two phases: ``val`` (the public validation split, scores shown at once) and ``test`` (results private
until the host publishes them), both with AVR and AVC, limits per team, and the VALOR paper's VALOR-B /
VALOR-L test results as baselines, taken from ``valor_bench.leaderboard.REFERENCE_ROWS`` (the numbers
``valor-bench leaderboard --add-reference`` enters), marked "reported, not reproduced".
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from valor_bench.leaderboard import PAPER, REFERENCE_ROWS, REPORTED_NOTE
from valor_bench.server.security import HOST_PREFIX
from valor_data.web.tokens import new_token

TEMPLATE = """\
# A valor-bench challenge: `valor-bench serve --challenge {path}` hosts it.
# Every key is checked when the server starts; a mistake stops it with one line naming the key.
title: VALOR-32K audiovisual retrieval and captioning challenge
description: >-
  Text-to-audiovisual retrieval (AVR) and audiovisual captioning (AVC) on the VALOR-32K clips
  (Chen et al. 2023). Submission formats are those of `valor-bench validate`.

# sha256 of the host token (printed once by `valor-bench challenge init` / `challenge token`).
host_token_sha256: {host_hash}

registration:
  approval: false          # true: the host approves each team before it can submit

tasks:                     # per-task upload limits (a VALOR-32K test AVR matrix is ~49 MB as float32)
  avr: {{max_upload_mb: 512}}
  avc: {{max_upload_mb: 32}}

server:
  rate_limit_requests: 120 # requests per token (or per address without one)...
  rate_limit_seconds: 60   # ...per this many seconds
  max_json_depth: 16       # deeper JSON uploads are refused before they are parsed
  max_json_mb: 64          # JSON submissions are parsed in memory: larger ones are refused (AVR: send a .npz)
  lease_seconds: 60        # a worker's claim on a job, renewed while it lives; a dead worker's job is re-run after it
  max_attempts: 3          # worker deaths on one job before the job is failed
  eval_timeout_seconds: 3600

phases:
  - name: val
    title: Validation
    description: The public VALOR-32K validation split; scores are shown on the board at once.
    tasks: [avr, avc]
    ground_truth: {{split: val}}   # or {{annotations: path/to/desc.json}} (relative to this file)
    visibility: public
    limits: {{per_day: 10, per_month: 100, total: 300}}
  - name: test
    title: Test
    description: VALOR-32K test; results stay private until the host publishes them.
    tasks: [avr, avc]
    ground_truth: {{split: test}}
    visibility: private      # the host publishes the results (host page or API)
    show_own_scores: true    # each team sees its own scores meanwhile
    # opens: 2025-06-01T00:00:00Z
    # closes: 2025-09-01T00:00:00Z
    limits: {{per_day: 2, per_month: 20, total: 50}}
    baselines:
{baselines}
"""


def _baselines_yaml() -> str:
    rows = []
    for task, name, metrics in REFERENCE_ROWS:
        if task == "avr":
            metrics = {d: m for d, m in metrics.items() if m}
        rows.append({"task": task, "name": name, "metrics": metrics, "modality": "av",
                     "external_data": "large-scale pretraining (see paper)", "url": "https://arxiv.org/abs/2304.08345",
                     "note": f"{REPORTED_NOTE}: {PAPER}"})
    text = yaml.safe_dump(rows, sort_keys=False, default_flow_style=None, width=200, allow_unicode=True)
    return "\n".join("      " + line for line in text.rstrip().splitlines())


def write_example(directory: str | Path, force: bool = False) -> tuple[Path, str]:
    """Write ``DIR/challenge.yaml``; returns its path and the host token (shown once, stored hashed)."""
    directory = Path(directory)
    path = directory / "challenge.yaml"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; edit it, or pass --force to overwrite it (its host token is lost)")
    directory.mkdir(parents=True, exist_ok=True)
    token, token_hash = new_token(HOST_PREFIX)
    path.write_text(TEMPLATE.format(path=path, host_hash=token_hash, baselines=_baselines_yaml()), encoding="utf-8")
    return path, token


def rotate_host_token(path: str | Path) -> str:
    """Give ``challenge.yaml`` a new host token (the old one stops working when the server restarts)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    token, token_hash = new_token(HOST_PREFIX)
    new, n = re.subn(r"(?m)^host_token_sha256:.*$", f"host_token_sha256: {token_hash}", text)
    if n != 1:
        raise ValueError(f"{path}: no top-level 'host_token_sha256:' line to replace")
    path.write_text(new, encoding="utf-8")
    return token
