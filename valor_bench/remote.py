"""``valor-bench submit --server URL --token T``: upload to a challenge server and follow the submission.

The file is streamed as the request body (never read whole into memory; the metadata in the query string); its size is checked against the server's limit for
the task first, so a file that would be refused is not sent. Metadata comes from the same sidecar and
options as a local ``submit``. With ``--wait`` the status is followed until finished or failed and the
outcome printed as ``valor-bench evaluate`` would: problem lines or scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from valor_bench.formats import Metadata, read_metadata
from valor_bench.server.statuses import DONE, SubmissionStatus
from valor_data.web.uploads import mib

TIMEOUT = httpx.Timeout(30.0, write=600.0, read=600.0)


class RemoteError(RuntimeError):
    """The server refused, or could not be reached: one line."""


def _error(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error") or resp.text)
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase


def _check(resp: httpx.Response, what: str) -> dict:
    if resp.status_code >= 400:
        raise RemoteError(f"{what}: HTTP {resp.status_code}: {_error(resp)}")
    return resp.json()


class ChallengeClient:
    def __init__(self, server: str, token: str | None, transport: httpx.BaseTransport | None = None):
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=TIMEOUT, transport=transport)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str) -> dict:
        try:
            return _check(self.http.get(path), f"{self.server}{path}")
        except httpx.HTTPError as e:
            raise RemoteError(f"{self.server}: cannot reach the server ({type(e).__name__}: {e})") from None

    def challenge(self) -> dict:
        return self._get("/api/v1/challenge")

    def submission(self, sid: int) -> dict:
        return self._get(f"/api/v1/submissions/{sid}")

    def default_phase(self, info: dict, task: str) -> str:
        phases = [p["name"] for p in info["phases"] if task in p["tasks"]]
        if len(phases) != 1:
            raise RemoteError(f"{self.server} has phases {', '.join(phases) or '(none)'} for {task.upper()}: "
                              "choose one with --phase")
        return phases[0]

    def upload(self, path: Path, task: str, phase: str | None, meta: Metadata) -> dict:
        info = self.challenge()
        phase = phase or self.default_phase(info, task)
        limit = info["tasks"].get(task, {}).get("max_upload_bytes")
        size = path.stat().st_size
        if limit and size > limit:
            raise RemoteError(f"{path}: {mib(size)} is over the server's {mib(limit)} limit for {task.upper()}; "
                              "not sent")
        fields = {k: v for k, v in meta.as_dict().items() if v is not None}
        url = f"/api/v1/phases/{phase}/tasks/{task}/submissions"
        try:
            with path.open("rb") as fh:
                resp = self.http.post(url, params={"filename": path.name, **fields}, content=fh,
                                      headers={"Content-Type": "application/octet-stream"})
        except httpx.HTTPError as e:
            raise RemoteError(f"{self.server}: upload failed ({type(e).__name__}: {e})") from None
        return _check(resp, f"{path} -> {self.server} ({task.upper()} {phase})")

    def wait(self, sid: int, poll_seconds: float = 2.0, timeout_seconds: float = 3600.0,
             on_status: Callable[[str], None] | None = None) -> dict:
        deadline, last = time.monotonic() + timeout_seconds, None
        while True:
            sub = self.submission(sid)
            if sub["status"] != last and on_status:
                on_status(sub["status"])
            last = sub["status"]
            if sub["status"] in DONE:
                return sub
            if time.monotonic() > deadline:
                raise RemoteError(f"submission #{sid} still {sub['status']} after {timeout_seconds:.0f} s; "
                                  f"follow it at {self.server}/submissions/{sid}")
            time.sleep(poll_seconds)


def wait_until_up(server: str, timeout_seconds: float = 60.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait for ``/api/v1/health`` to answer (a server that was just started); RemoteError after the timeout or
    when ``alive()`` says the server process is gone."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            if httpx.get(f"{server.rstrip('/')}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not alive() or time.monotonic() > deadline:
            raise RemoteError(f"{server}: no answer from /api/v1/health")
        time.sleep(0.2)


def format_outcome(sub: dict) -> list[str]:
    """The lines ``submit --wait`` prints: problems, or the metrics (private phases say so)."""
    lines = [f"#{sub['id']} {sub['status']}: {sub['task'].upper()} {sub['phase']}, {sub['model_name']!r}"]
    if sub.get("error"):
        lines.append(f"error: {sub['error']}")
    lines += sub.get("problems") or []
    if sub["status"] == SubmissionStatus.FINISHED:
        if not sub.get("scores_visible", True):
            lines.append(sub.get("scores_hidden_reason", "scores are private"))
        metrics = sub.get("metrics") or {}
        lower = set(sub.get("lower_bounds") or [])
        for key, value in metrics.items():
            if isinstance(value, dict):
                lines.append(f"{key}: " + ", ".join(f"{m} {'≥' if f'{key}.{m}' in lower else ''}{v:.2f}"
                                                     for m, v in value.items()))
            elif isinstance(value, int | float):
                lines.append(f"{key}: {value:.2f}")
        cov = sub.get("coverage")
        if cov:
            lines.append(f"coverage: {cov.get('scored')}/{cov.get('split_clips')} clips"
                         + (" (partial)" if cov.get("partial") else ""))
    return lines


def submit_remote(submission: Path, task: str, phase: str | None, server: str, token: str | None,
                  meta_overrides: dict[str, str | None], wait: bool, echo: Callable[[str], None]) -> dict:
    """The remote branch of ``valor-bench submit``: read the sidecar + options, upload, optionally follow."""
    if not token:
        raise RemoteError("give --token (or set VALOR_TOKEN): the team token shown when the team registered")
    if not submission.is_file():
        raise RemoteError(f"{submission}: no such file")
    meta, problems = read_metadata(submission, meta_overrides)
    if problems:
        raise RemoteError("; ".join(problems))
    if not meta.model_name:
        raise RemoteError("give --model-name (or --name, or a sidecar model_name): the board shows it")
    client = ChallengeClient(server, token)
    try:
        job = client.upload(submission, task, phase, meta)
        echo(f"queued #{job['id']}: {job['url']}")
        if not wait:
            return job
        sub = client.wait(job["id"], on_status=lambda s: echo(f"#{job['id']} {s}"))
        for line in format_outcome(sub):
            echo(line)
        return sub
    finally:
        client.close()
