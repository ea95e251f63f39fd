"""Scripted annotators and reviewers that work through the campaign's JSON API exactly as a page does
(join with an invite, ask for the next clip or review, save, judge): the demo's campaign, the load benchmark
and the durability tests drive a server with them.

:class:`ServerProcess` runs ``valor-data annotate serve`` as a person would, in a process of its own that the
caller can SIGKILL and start again on the same database.

Every write the server acknowledges (a 201) goes into a :class:`Ledger` with the request's latency, so the
caller can check afterwards that the database holds each one. A request the server never answered (it was
killed, or the connection broke) is counted as an error and not acknowledged: the agent asks again.

Writers compose good captions (the clip's AudioSet labels as heard sounds, a scene, at least the campaign's
minimum words) or, in a clip's first round and with the probability they are given, deliberately bad ones
(no sound described); a rewrite after a rejection is a good caption. Careful
reviewers reject a caption in which the ACD concept matcher finds no audio concept; a rubber stamp accepts
everything (the dashboard flags it).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from valor_data.captions.acd import matcher_for

API = "/api/v1"
SUBJECTS = ("a man", "a woman", "a child", "two people", "a group of friends", "an old man", "a young girl")
SCENES = ("in a small room", "on a busy street", "in a park", "next to a lake", "inside a car", "on a stage",
          "in a kitchen", "in a garden")
ACTIONS = ("stands and looks around", "walks slowly", "sits at a table", "moves the camera", "points at something",
           "smiles at the camera")
NO_SOUND_REASON = "no-sound"


@dataclass(frozen=True)
class Ack:
    """One write the server acknowledged: a caption (``value`` is its text) or a verdict (accept/reject)."""

    kind: str  # "caption" | "verdict"
    user: str  # pseudonym
    caption_id: int
    clip_id: str
    value: str


@dataclass
class Ledger:
    """What the agents did: acknowledged writes, latencies per operation, unanswered or refused requests."""

    acks: list[Ack] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)

    def actions(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def good_caption(rng: random.Random, labels: list[str], min_words: int = 8) -> str:
    """A caption that says what is seen and what is heard (the clip's labels as sounds)."""
    heard = " and ".join(label.lower() for label in (labels[:2] or ["speech"]))
    words = (f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(SCENES)} while the sound of {heard} "
             f"can be heard").split()
    while len(words) < min_words:
        words += ["in", "the", "background"]
    return " ".join(words)


def bad_caption(rng: random.Random, min_words: int = 8) -> str:
    """Long enough to pass the hard limits, but describes no sound: the reviewers' ``no-sound`` case."""
    words = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(SCENES)}".split()
    while len(words) < min_words:
        words += ["for", "a", "while"]
    return " ".join(words)


def careful_judge(task: dict) -> tuple[str, str | None]:
    """Accept a caption in which an audio concept is found, else reject it for describing no sound."""
    if matcher_for("paper").match(task["text"]):
        return "accept", None
    return "reject", NO_SOUND_REASON


def rubber_stamp(_task: dict) -> tuple[str, str | None]:
    return "accept", None


class Agent:
    """One person of the campaign, driven by a script, through ``http`` (a real server or an ASGI app)."""

    def __init__(self, http: httpx.AsyncClient, token: str, pseudonym: str, role: str, ledger: Ledger,
                 rng: random.Random | None = None):
        self.http, self.pseudonym, self.role, self.ledger = http, pseudonym, role, ledger
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rng = rng or random.Random(pseudonym)

    @classmethod
    async def join(cls, http: httpx.AsyncClient, invite: str, ledger: Ledger, rng: random.Random | None = None) -> Agent:
        r = await http.post(f"{API}/join", json={"invite": invite})
        if r.status_code != 201:
            raise RuntimeError(f"join: HTTP {r.status_code}: {r.text[:200]}")
        body = r.json()
        return cls(http, body["token"], body["pseudonym"], body["role"], ledger, rng)

    async def _post(self, op: str, path: str, payload: dict | None = None) -> httpx.Response | None:
        """The response, with its latency recorded under ``op``; None when the server did not answer."""
        start = time.perf_counter()
        try:
            r = await self.http.post(API + path, json=payload or {}, headers=self.headers)
        except httpx.TransportError:
            self.ledger.errors[op] += 1
            return None
        self.ledger.latencies[op].append(time.perf_counter() - start)
        if r.status_code >= 400:
            self.ledger.refusals[f"{op} {r.status_code}"] += 1
        return r

    async def write(self, bad_share: float = 0.0, seconds: float = 30.0) -> Ack | None:
        """Take the next clip to write and save a caption for it; None when there was none or no answer."""
        r = await self._post("next clip", "/next/write")
        if r is None or r.status_code != 200:
            return None
        task = r.json()
        bad = task.get("round", 1) == 1 and self.rng.random() < bad_share  # a rewrite heeds the feedback
        text = bad_caption(self.rng) if bad else good_caption(self.rng, task.get("labels") or [])
        saved = await self._post("save", "/captions", {"lease": task["lease"], "text": text, "seconds": seconds,
                                                        "draft_shown": task.get("draft") is not None})
        if saved is None or saved.status_code != 201:
            return None
        ack = Ack("caption", self.pseudonym, int(saved.json()["caption_id"]), task["clip_id"], text)
        self.ledger.acks.append(ack)
        return ack

    async def review(self, judge: Callable[[dict], tuple[str, str | None]] = careful_judge,
                     seconds: float = 10.0) -> Ack | None:
        """Take the next caption to review and give a verdict; None when there was none or no answer."""
        r = await self._post("next review", "/next/review")
        if r is None or r.status_code != 200:
            return None
        task = r.json()
        verdict, reason = judge(task)
        saved = await self._post("verdict", "/verdicts", {"lease": task["lease"], "verdict": verdict,
                                                          "reason": reason, "comment": "", "seconds": seconds})
        if saved is None or saved.status_code != 201:
            return None
        ack = Ack("verdict", self.pseudonym, int(task["caption_id"]), task["clip_id"], verdict)
        self.ledger.acks.append(ack)
        return ack


async def work_until(agent: Agent, deadline: float, think: float, bad_share: float = 0.0,
                     judge: Callable[[dict], tuple[str, str | None]] = careful_judge) -> None:
    """Work until ``deadline`` (``time.monotonic``): annotators write and review, reviewers review; ``think``
    seconds (jittered) between actions, and a short wait when there was nothing to do or no answer."""
    while time.monotonic() < deadline:
        if agent.role == "annotator" and agent.rng.random() < 0.5:
            done = await agent.write(bad_share)
        else:
            done = await agent.review(judge)
        await asyncio.sleep(agent.rng.uniform(0.5, 1.5) * think if done else max(think, 0.2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``valor-data annotate serve DIR`` in its own session (so a kill reaches only it), logging to ``log``."""

    def __init__(self, directory: Path, log: Path, db_url: str | None = None, port: int | None = None):
        self.directory, self.log_path, self.db_url = Path(directory), Path(log), db_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> float:
        """Start the server and wait until it answers; returns the seconds that took."""
        cmd = [sys.executable, "-m", "valor_data.cli", "annotate", "serve", str(self.directory),
               "--port", str(self.port), *(["--db", self.db_url] if self.db_url else [])]
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = began + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/login", timeout=2).status_code < 500:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"annotate serve did not start (exit {self.proc.poll()}): {tail}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, whatever the server was doing is cut off."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
