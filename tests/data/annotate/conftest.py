"""Fixtures for the campaign core's tests: a campaign made by ``init`` on SQLite or on the throwaway
PostgreSQL of ``tests/conftest.py``, clips put straight into its table, and people who joined by invite."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, update

from valor_data.annotate.campaign import write_example
from valor_data.annotate.people import User, create_invites, join
from valor_data.annotate.schema import clips, users
from valor_data.annotate.state import Campaign
from valor_data.annotate.states import ClipState, Role
from valor_data.cli import main
from valor_data.clip import MANIFEST_SCHEMA, ClipRef

# (ytid, start, labels): an id starting with '-', one with '_' inside, an unknown label mid.
FETCHED = [("-2Abohj8VYx", 30.0, ["/m/04rlf"]), ("a_b_c_d_e_f", 1.5, ["/m/09x0r", "/m/0jbk"]),
           ("Agi5ySKb1tY", 23.7, ["/m/0unknown"])]
GOOD = "A man in a red shirt plays an acoustic guitar on a stage while people clap and cheer loudly."


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def fetch_dir(tmp_path_factory) -> Path:
    """A fetch output directory: the FETCHED clips (1 s H.264 mp4 + FLAC each) and one failed download."""
    root = tmp_path_factory.mktemp("fetch")
    (root / "clips").mkdir()
    rows = []
    for i, (ytid, start, labels) in enumerate(FETCHED):
        ref = ClipRef.from_seconds(ytid, start, start + 10)
        video, audio = f"clips/{ref.key}.mp4", f"clips/{ref.key}.flac"
        _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-c:v", "libx264", "-preset",
                "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(root / video))
        _ffmpeg("-f", "lavfi", "-i", f"sine=frequency={300 + 100 * i}:sample_rate=16000:duration=1", "-c:a", "flac",
                str(root / audio))
        rows.append({"clip_id": ref.clip_id, "key": ref.key, "ytid": ytid, "start": ref.start, "end": ref.end,
                     "labels": labels, "captions": [], "status": "ok", "video_path": video, "audio_path": audio,
                     "video_bytes": (root / video).stat().st_size, "audio_bytes": (root / audio).stat().st_size})
    failed = ClipRef.from_seconds("E3333333333", 0, 10)
    rows.append({"clip_id": failed.clip_id, "key": failed.key, "ytid": "E3333333333", "start": 0.0, "end": 10.0,
                 "labels": [], "captions": [], "status": "unavailable", "message": "HTTP Error 404"})
    pq.write_table(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), root / "manifest.parquet")
    return root


@pytest.fixture(scope="session")
def shard_dir(fetch_dir, tmp_path_factory) -> Path:
    """The fetch directory sharded two clips a tar."""
    out = tmp_path_factory.mktemp("shards") / "shards"
    res = CliRunner().invoke(main, ["shard", str(fetch_dir), "--out", str(out), "--shard-size", "2"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'campaign.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def campaign(tmp_path, db_url):
    directory = tmp_path / "campaign"
    write_example(directory)
    c = Campaign.open(directory, db_url)
    yield c
    c.close()


def configure(c: Campaign, **changes) -> Campaign:
    """The campaign with some rules changed (``stage_<name>={...}`` changes one stage's fields)."""
    stages = dict(c.config.stages)
    for key in [k for k in changes if k.startswith("stage_")]:
        name = key[len("stage_"):]
        stages[name] = replace(stages[name], **changes.pop(key))
    c.config = replace(c.config, stages=stages, **changes)
    return c


def add_clips(c: Campaign, n: int, stage: str = "second", gold: bool = False, start: int = 0) -> list[str]:
    """``n`` clips put straight into the campaign (import has its own tests)."""
    ids = [f"clip{start + i:05d}___{start + i}.000_{start + i + 10}.000" for i in range(n)]
    with c.db.write() as conn:
        conn.execute(insert(clips), [{
            "clip_id": cid, "key": cid.replace(".", ""), "stage": stage, "gold": gold, "split": "train",
            "labels": json.dumps(["Music", "Guitar"]), "media": json.dumps({"kind": "files", "video": "/v.mp4",
                                                                           "audio": "/a.flac"}),
            "state": ClipState.OPEN.value, "round": 1, "updated_at": 0.0} for cid in ids])
    return ids


def person(c: Campaign, role: Role = Role.ANNOTATOR, qualified: bool = True) -> User:
    """Someone who joined by invite; ``qualified`` is set straight in the database."""
    user, _ = join(c, create_invites(c, role, 1)[0])
    with c.db.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(qualified=qualified))
    return replace(user, qualified=qualified)


def clip_row(c: Campaign, clip_id: str):
    with c.db.read() as conn:
        return conn.execute(select(clips).where(clips.c.clip_id == clip_id)).one()


@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    """The helpers above, for test modules (importlib mode cannot import conftest)."""
    return SimpleNamespace(GOOD=GOOD, configure=configure, add_clips=add_clips, person=person, clip_row=clip_row)
