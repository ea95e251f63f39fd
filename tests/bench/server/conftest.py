"""Fixtures for the challenge-server tests: a tiny two-phase challenge on real AudioSet clip ids, a server
state on SQLite (or a throwaway PostgreSQL: ``tests/conftest.py``), a TestClient, and helpers to register, upload and run workers.

The hidden test phase's captions carry the marker word ``zyxhidden`` so a test can search every response
for a leak of the hidden ground truth.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from starlette.testclient import TestClient

from valor_bench.ground_truth import load_ground_truth
from valor_bench.server.app import create_app
from valor_bench.server.config import load_challenge
from valor_bench.server.security import HOST_PREFIX
from valor_bench.server.state import open_server
from valor_bench.server.worker import Worker
from valor_data.clip import ClipRef
from valor_data.inputs import read_audioset_csv
from valor_data.resources import audioset_segments_paths
from valor_data.web.tokens import new_token

HIDDEN_MARK = "zyxhidden"
WORDS = ("a man plays the guitar while a woman sings in a small room with dogs barking outside and cars "
         "passing by on the wet street as rain falls").split()


def _clips(n: int, skip: int = 0) -> list[ClipRef]:
    eval_csv = audioset_segments_paths()[1]
    return [c for c in islice(read_audioset_csv(eval_csv), skip, skip + n) if isinstance(c, ClipRef)]


def _captions(rng: random.Random, clips: list[ClipRef], mark: str = "") -> list[dict]:
    out = []
    for i, c in enumerate(clips):
        n = 2 if i == 1 else 1
        caps = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 11))) + (f" {mark}{i}" if mark else "")
                for _ in range(n)]
        out.append({"video_id": c.clip_id, "desc": caps if n > 1 else caps[0]})
    return out


@pytest.fixture(scope="session")
def gt_dir(tmp_path_factory) -> Path:
    """val: 10 clips (one with 2 captions); test: 8 clips whose captions end in the hidden marker."""
    d = tmp_path_factory.mktemp("gt")
    rng = random.Random(5)
    (d / "val.json").write_text(json.dumps(_captions(rng, _clips(10))))
    (d / "test.json").write_text(json.dumps(_captions(rng, _clips(8, skip=20), HIDDEN_MARK)))
    return d


CHALLENGE = """\
title: Test challenge
description: the server tests' challenge
host_token_sha256: {host_hash}
registration: {{approval: {approval}}}
tasks:
  avr: {{max_upload_mb: 2}}
  avc: {{max_upload_mb: 0.25}}
server: {{rate_limit_requests: {rate}, rate_limit_seconds: 60, max_json_depth: 8, max_json_mb: 0.1, lease_seconds: {lease},
          max_attempts: 3, eval_timeout_seconds: {timeout}}}
phases:
  - name: val
    ground_truth: {{annotations: {gt}/val.json}}
    visibility: public
    limits: {{per_day: {per_day}, total: 20}}
  - name: test
    ground_truth: {{annotations: {gt}/test.json}}
    visibility: private
    limits: {{per_day: 5, total: 10}}
    baselines:
      - {{task: avr, name: Paper-B, metrics: {{t2v: {{R@1: 50.0, R@5: 70.0, R@10: 80.0}}}}, modality: av}}
      - {{task: avc, name: Paper-B, metrics: {{CIDEr: 55.7, BLEU-4: 8.9}}}}
"""


def make_challenge(directory: Path, gt_dir: Path, *, approval: bool = False, rate: int = 1000, per_day: int = 10,
                   lease: float = 30, timeout: float = 3600) -> tuple[Path, str]:
    token, token_hash = new_token(HOST_PREFIX)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "challenge.yaml"
    path.write_text(CHALLENGE.format(host_hash=token_hash, approval=str(approval).lower(), rate=rate, gt=gt_dir,
                                     per_day=per_day, lease=lease, timeout=timeout))
    return path, token


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'board.sqlite'}"
    return request.getfixturevalue("postgres_url")


# ------------------------------------------------------------------------------------------------ server
class Harness:
    """A challenge server in this process: its state, a TestClient, and shortcuts for the tests."""

    def __init__(self, tmp: Path, gt_dir: Path, db_url: str | None = None, **challenge_opts):
        self.tmp = tmp
        self.challenge_path, self.host_token = make_challenge(tmp / "challenge", gt_dir, **challenge_opts)
        self.db_url = db_url or f"sqlite:///{tmp / 'data' / 'board.sqlite'}"
        self.state = open_server(load_challenge(self.challenge_path), self.db_url, tmp / "data")
        self.app = create_app(self.state)
        self.client = TestClient(self.app, base_url="http://testserver")
        self.gt_dir = gt_dir

    def api(self, method: str, path: str, token: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, path, headers=headers, **kw)

    def register(self, name: str) -> str:
        r = self.api("POST", "/api/v1/teams", json={"name": name})
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def upload(self, token: str, phase: str, task: str, path: Path, form: bool = False, **meta):
        """The raw upload ``valor-bench submit --server`` sends; ``form``: the same as multipart/form-data."""
        fields = {"model_name": meta.pop("model_name", "model"), **meta}
        url = f"/api/v1/phases/{phase}/tasks/{task}/submissions"
        with open(path, "rb") as fh:
            if form:
                return self.api("POST", url, token, data=fields,
                                files={"file": (path.name, fh, "application/octet-stream")})
            return self.api("POST", url, token, params={"filename": path.name, **fields}, content=fh,
                            headers={"Content-Type": "application/octet-stream"})

    def run_workers(self, max_jobs: int | None = None) -> int:
        return Worker(self.state.db, poll_seconds=0.05).run(max_jobs=max_jobs, exit_when_idle=True)

    def gt(self, phase: str):
        return load_ground_truth(annotations=self.gt_dir / f"{phase}.json")


@pytest.fixture
def harness(tmp_path, gt_dir) -> Harness:
    h = Harness(tmp_path, gt_dir)
    yield h
    h.state.db.dispose()


@pytest.fixture
def live_server(harness):
    """The harness's app served by uvicorn on a free loopback port, with one worker thread scoring."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(harness.app, host="127.0.0.1", port=port, log_level="warning"))
    web = threading.Thread(target=server.run, daemon=True)
    web.start()
    worker = Worker(harness.state.db, poll_seconds=0.1)
    jobs = threading.Thread(target=worker.run, daemon=True)
    jobs.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    worker.stop.set()
    server.should_exit = True
    web.join(10)
    jobs.join(120)


@pytest.fixture
def make_harness(tmp_path, gt_dir):
    made = []

    def make(**opts) -> Harness:
        h = Harness(tmp_path / f"h{len(made)}", gt_dir, **opts)
        made.append(h)
        return h

    yield make
    for h in made:
        h.state.db.dispose()


# ----------------------------------------------------------------------------------------- submissions
def make_avr_npz(gt, path: Path, quality: float = 1.0, seed: int = 0, **overrides) -> Path:
    """An AVR matrix where a share ``quality`` of the texts score their own clip highest."""
    text_ids, text_video, video_ids = gt.text_ids(), gt.text_video(), list(gt.video_ids)
    rng = np.random.default_rng(seed)
    sim = rng.uniform(0, 0.5, size=(len(text_ids), len(video_ids))).astype(np.float32)
    for i, v in enumerate(text_video):
        if rng.uniform() < quality:
            sim[i, video_ids.index(v)] = 1.0
    arrays = {"sim": sim, "text_ids": np.array(text_ids), "video_ids": np.array(video_ids), **overrides}
    np.savez_compressed(path, **arrays)
    return path


def make_avc_json(gt, path: Path, caption: str = "a man plays the guitar in a small room") -> Path:
    path.write_text(json.dumps([{"video_id": v, "caption": caption} for v in gt.video_ids]))
    return path


@pytest.fixture
def avr_npz():
    return make_avr_npz


@pytest.fixture
def avc_json():
    return make_avc_json


@pytest.fixture
def write_challenge():
    return make_challenge
