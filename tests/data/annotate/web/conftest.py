"""Fixtures for the campaign app's tests: a real clip in a shard-like tar (H.264 mp4 + FLAC members), the app
on a campaign (SQLite or the throwaway PostgreSQL, from ``tests/data/annotate/conftest.py``) behind a
TestClient, people who joined by invite through the API or the join page, and the app on a loopback port
for Chromium."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvicorn
from sqlalchemy import update
from starlette.testclient import TestClient

from valor_data.annotate.people import create_invites, list_people
from valor_data.annotate.schema import clips
from valor_data.annotate.states import Role
from valor_data.annotate.web.app import create_app

GOOD = "A man in a red shirt plays an acoustic guitar on a stage while people clap and cheer loudly."


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_pair(root: Path, name: str = "clip", seconds: float = 2.0) -> tuple[Path, Path]:
    """A fetch-normalised pair: video-only H.264 mp4 (+faststart) and a 16 kHz FLAC."""
    root.mkdir(parents=True, exist_ok=True)
    video, audio = root / f"{name}.mp4", root / f"{name}.flac"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={seconds}", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart", str(video))
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}", "-ac", "1",
            "-c:a", "flac", str(audio))
    return video, audio


def make_tar_media(root: Path, seconds: float = 2.0) -> dict:
    """A shard-like tar (json, mp4, flac members) and the ``clips.media`` of its clip."""
    video, audio = make_pair(root, seconds=seconds)
    (root / "clip.json").write_text("{}")
    tar = root / "shard-000000.tar"
    with tarfile.open(tar, "w") as t:
        for f in ("clip.json", "clip.mp4", "clip.flac"):
            t.add(root / f, f"k1.{f.split('.')[1]}")
    with tarfile.open(tar) as t:
        members = {m.name: [m.offset_data, m.size] for m in t}
    return {"kind": "tar", "path": str(tar), "video": members["k1.mp4"], "audio": members["k1.flac"]}


@pytest.fixture(scope="session")
def tar_media(tmp_path_factory) -> dict:
    return make_tar_media(tmp_path_factory.mktemp("tar-media"), seconds=4.0)


class Web:
    """The app on one campaign, a TestClient per person, and shortcuts."""

    def __init__(self, campaign, h, media: dict, secure: bool = False):
        self.c, self.h, self.media = campaign, h, media
        self.app = create_app(campaign, secure_cookies=secure)
        self.client = TestClient(self.app, base_url="http://testserver")

    def configure(self, **changes) -> None:
        """Change the campaign's rules (and the app's limits, built from them)."""
        self.h.configure(self.c, **changes)
        self.app = create_app(self.c)
        self.client = TestClient(self.app, base_url="http://testserver")

    def clips(self, n: int, stage: str = "second", gold: bool = False, start: int = 0) -> list[str]:
        ids = self.h.add_clips(self.c, n, stage=stage, gold=gold, start=start)
        with self.c.db.write() as conn:
            conn.execute(update(clips).where(clips.c.clip_id.in_(ids)).values(media=json.dumps(self.media)))
        return ids

    def api(self, method: str, path: str, token: str | None = None, **kw):
        headers = {**kw.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        return self.client.request(method, path, headers=headers, **kw)

    def join(self, role: Role | str = Role.ANNOTATOR, qualified: bool = True) -> SimpleNamespace:
        """Someone who joined through the API; ``qualified`` set by the host's API."""
        invite = create_invites(self.c, role, 1)[0]
        r = self.api("POST", "/api/v1/join", json={"invite": invite})
        assert r.status_code == 201, r.text
        me = SimpleNamespace(**r.json())
        if Role(me.role) == Role.ANNOTATOR and qualified != me.qualified:
            host = self.host()
            uid = self.user_id(me.pseudonym)
            assert self.api("POST", "/api/v1/host/qualify", host.token,
                            json={"user_id": uid, "qualified": qualified}).status_code == 200
            me.qualified = qualified
        return me

    def host(self) -> SimpleNamespace:
        if not hasattr(self, "_host"):
            invite = create_invites(self.c, Role.HOST, 1)[0]
            self._host = SimpleNamespace(**self.api("POST", "/api/v1/join", json={"invite": invite}).json())
        return self._host

    def user_id(self, pseudonym: str) -> int:
        return next(p.id for p in list_people(self.c) if p.pseudonym == pseudonym)

    def browser(self, role: Role | str = Role.ANNOTATOR, qualified: bool = True) -> TestClient:
        """A separate client (own cookies) logged in through the join page."""
        client = TestClient(self.app, base_url="http://testserver")
        invite = create_invites(self.c, role, 1)[0]
        page = client.get(f"/join/{invite}")
        assert page.status_code == 200, page.text
        r = client.post(f"/join/{invite}", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 200, r.text
        client.token = re.search(r'<pre id="token">([^<]+)</pre>', r.text).group(1)
        client.pseudonym = re.search(r"Welcome, ([^<]+)</h1>", r.text).group(1)
        if Role(role) == Role.ANNOTATOR and qualified:
            self.api("POST", "/api/v1/host/qualify", self.host().token,
                     json={"user_id": self.user_id(client.pseudonym), "qualified": True})
        return client

    def write(self, token: str, text: str = GOOD) -> dict:
        task = self.api("POST", "/api/v1/next/write", token).json()
        r = self.api("POST", "/api/v1/captions", token, json={"lease": task["lease"], "text": text, "seconds": 3})
        assert r.status_code == 201, r.text
        return task

    def verdict(self, token: str, verdict: str, reason: str | None = None, comment: str | None = None) -> dict:
        task = self.api("POST", "/api/v1/next/review", token).json()
        r = self.api("POST", "/api/v1/verdicts", token, json={"lease": task["lease"], "verdict": verdict,
                                                               "reason": reason, "comment": comment, "seconds": 2})
        assert r.status_code == 201, r.text
        return {**task, **r.json()}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def web(campaign, h, tar_media) -> Web:
    return Web(campaign, h, tar_media)


@pytest.fixture
def live(campaign, h, tar_media):
    """The app on a free loopback port (uvicorn in a thread), for Chromium."""
    w = Web(campaign, h, tar_media)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(w.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    w.url = f"http://127.0.0.1:{port}"
    yield w
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def media_helpers() -> SimpleNamespace:
    """The media makers above, for test modules (importlib mode cannot import conftest)."""
    return SimpleNamespace(make_pair=make_pair, make_tar_media=make_tar_media, csrf_of=csrf_of, GOOD=GOOD)
