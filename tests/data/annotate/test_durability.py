"""Durability of `valor-data annotate serve`, with real processes on SQLite and on PostgreSQL 15:

* the server SIGKILLed while scripted annotators and reviewers save through the JSON API: every caption
  and verdict it acknowledged (a 201) is in the database afterwards, no clip round has two captions, no
  caption more reviews than its stage asks or a review by its author;
* a restart keeps every lease, caption and round: the database is the same before the kill and after the
  restart, and a writer and a reviewer who held leases get them back and save with them.
"""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest
import yaml
from sqlalchemy import select

from valor_data.annotate import invariants
from valor_data.annotate.people import create_invites
from valor_data.annotate.schema import captions, clips, review_slots
from valor_data.annotate.simulate import API, Agent, Ledger, ServerProcess, good_caption, work_until

pytestmark = pytest.mark.timeout(240)


def _no_training(c) -> None:
    """Annotators who join are qualified: these tests are about the second stage. Scripted people save far
    faster than people do, so the per-person rate limit (120/min) is lifted: a 429 is not what is tested."""
    path = c.directory / "campaign.yaml"
    config = yaml.safe_load(path.read_text())
    config["qualification_min_accepted"] = 0
    config["rate_limit_per_minute"] = 100_000
    path.write_text(yaml.safe_dump(config, sort_keys=False))


async def _agents(http: httpx.AsyncClient, c, ledger: Ledger, annotators: int, reviewers: int) -> list[Agent]:
    invites = create_invites(c, "annotator", annotators) + create_invites(c, "reviewer", reviewers)
    return [await Agent.join(http, invite, ledger, random.Random(i)) for i, invite in enumerate(invites)]


def _snapshot(c) -> dict:
    with c.db.read() as conn:
        return {name: sorted(tuple(r) for r in conn.execute(select(table)))
                for name, table in (("clips", clips), ("captions", captions), ("review_slots", review_slots))}


@pytest.fixture
def served(campaign, db_url, tmp_path, h):
    _no_training(campaign)
    h.add_clips(campaign, 120)
    server = ServerProcess(campaign.directory, tmp_path / "serve.log", db_url)
    server.start()
    yield server
    server.stop()


def test_sigkill_while_saving_loses_no_acknowledged_write(campaign, served):
    ledger = Ledger()
    phases: dict[str, int] = {}

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
            agents = await _agents(http, campaign, ledger, annotators=6, reviewers=3)
            deadline = time.monotonic() + 8
            work = [asyncio.create_task(work_until(a, deadline, think=0.005, bad_share=0.3)) for a in agents]
            await asyncio.sleep(3)
            served.kill()  # mid-request: nine clients are saving as fast as the server answers
            phases["before"] = len(ledger.acks)
            await asyncio.to_thread(served.start)
            phases["restarted"] = len(ledger.acks)
            await asyncio.gather(*work)

    asyncio.run(scenario())
    assert phases["before"] > 20 and len(ledger.acks) > phases["restarted"] + 20, phases
    assert sum(ledger.errors.values()) > 0  # requests were cut off by the kill
    assert {a.kind for a in ledger.acks} == {"caption", "verdict"}
    violations = invariants.check(campaign, ledger.acks)
    assert violations.lost == [] and violations.ok, violations


def test_restart_keeps_leases_captions_and_rounds(campaign, served):
    ledger = Ledger()

    async def before_kill() -> tuple[dict, dict, Agent, Agent]:
        async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
            agents = await _agents(http, campaign, ledger, annotators=4, reviewers=3)
            await asyncio.gather(*(work_until(a, time.monotonic() + 3, think=0.005, bad_share=0.5) for a in agents))
            writer, reviewer = agents[0], agents[-1]
            held_write = await http.post(f"{API}/next/write", headers=writer.headers)
            held_review = await http.post(f"{API}/next/review", headers=reviewer.headers)
            assert (held_write.status_code, held_review.status_code) == (200, 200), (held_write.text, held_review.text)
            return held_write.json(), held_review.json(), writer, reviewer

    held_write, held_review, writer, reviewer = asyncio.run(before_kill())
    before = _snapshot(campaign)
    round_column = list(clips.c).index(clips.c.round)
    assert max(row[round_column] for row in before["clips"]) >= 2  # bad captions were sent back: a later round
    served.kill()
    assert _snapshot(campaign) == before
    served.start()
    assert _snapshot(campaign) == before

    async def after_restart() -> None:
        async with httpx.AsyncClient(base_url=served.url, timeout=20) as http:
            writer.http = reviewer.http = http
            again = (await http.post(f"{API}/next/write", headers=writer.headers)).json()
            assert (again["lease"], again["clip_id"], again["round"]) == (
                held_write["lease"], held_write["clip_id"], held_write["round"])
            r = await http.post(f"{API}/captions", headers=writer.headers, json={
                "lease": again["lease"], "text": good_caption(random.Random(1), again["labels"]), "seconds": 20})
            assert r.status_code == 201, r.text
            review = (await http.post(f"{API}/next/review", headers=reviewer.headers)).json()
            assert (review["lease"], review["caption_id"]) == (held_review["lease"], held_review["caption_id"])
            r = await http.post(f"{API}/verdicts", headers=reviewer.headers, json={
                "lease": review["lease"], "verdict": "accept", "reason": None, "comment": "", "seconds": 5})
            assert r.status_code == 201, r.text

    asyncio.run(after_restart())
    assert invariants.check(campaign, ledger.acks).ok
