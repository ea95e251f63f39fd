"""Fixtures for the campaign core's tests: a campaign made by ``init`` on SQLite or on the throwaway
PostgreSQL of ``tests/conftest.py``, clips put straight into its table, and people who joined by invite."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select, update

from valor_data.annotate.campaign import write_example
from valor_data.annotate.people import User, create_invites, join
from valor_data.annotate.schema import clips, users
from valor_data.annotate.state import Campaign
from valor_data.annotate.states import ClipState, Role

GOOD = "A man in a red shirt plays an acoustic guitar on a stage while people clap and cheer loudly."


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
