"""The demo's caption campaign: the three steps of the VALOR paper (Sec. 3.2) run by scripted people through
`valor-data annotate serve`'s JSON API, on the demo's own shards.

Gold clips (the val split) train the annotators: the host accepts their good captions and rejects the
deliberately bad ones, and they qualify. The test split is the first stage (the host and the reviewers
check it); the train split the second (three of the others per caption, blind; one reviewer is a rubber
stamp the dashboard flags once it has judged enough captions).
A share of first-round captions describe no sound: the careful reviewers send them back and the author
rewrites them. Then `annotate status`, `annotate export` and `valor-data acd` on what was exported.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from valor_data.annotate.simulate import API, Agent, Ledger, ServerProcess, careful_judge, rubber_stamp

INVITE = re.compile(r"vai_[A-Za-z0-9_-]+")
ANNOTATORS, REVIEWERS = 4, 3
BAD_SHARE = 0.25
QUALIFY_AFTER = 2
REQUESTS_PER_MINUTE = 6000  # scripted people ask far faster than people: campaign.yaml's limit is for people
UNSETTLED = ("open", "writing", "review", "rework")
MAX_PASSES = 400


@dataclass
class CampaignResult:
    accepted: int
    rewritten: int
    refused: str
    kappa: float | None
    flagged: list[str]
    acd: float
    avg_len: float
    outputs: list[Path]


Run = Callable[..., str]  # Demo.run: a CLI as a user types it, its stdout returned


def _invites(run: Run, directory: Path, url: str, role: str, n: int) -> list[str]:
    out = run("valor-data", "annotate", "invite", str(directory), "--role", role, "-n", str(n), "--base-url", url,
              step="annotate")
    found = [m.group(0) for m in INVITE.finditer(out)]
    if len(found) != n:
        raise RuntimeError(f"annotate invite printed {len(found)} invites, expected {n}")
    return found


async def _drain(writers: list[Agent], judges: list[tuple[Agent, Callable]]) -> None:
    """Everyone works in turn until a whole pass finds nothing to write or review."""
    for _ in range(MAX_PASSES):
        done = 0
        for a in writers:
            done += await a.write(BAD_SHARE) is not None
        for agent, judge in judges:
            done += await agent.review(judge) is not None
        if not done:
            return
    raise RuntimeError(f"the campaign did not settle in {MAX_PASSES} passes")


async def _script(url: str, invites: dict[str, list[str]]) -> tuple[str, dict]:
    ledger = Ledger()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        people = {role: [await Agent.join(http, t, ledger, random.Random(f"{role}{i}")) for i, t in enumerate(ts)]
                  for role, ts in invites.items()}
        annotators, host = people["annotator"], people["host"][0]
        # a hard limit: too short a caption is refused with a clear message (the page keeps the text)
        task = (await http.post(f"{API}/next/write", headers=annotators[0].headers)).json()
        refused = await http.post(f"{API}/captions", headers=annotators[0].headers,
                                  json={"lease": task["lease"], "text": "a dog", "seconds": 3})
        await http.post(f"{API}/leases/release", headers=annotators[0].headers, json={"lease": task["lease"]})
        judges = [(host, careful_judge), *((r, careful_judge) for r in people["reviewer"][1:]),
                  (people["reviewer"][0], rubber_stamp), *((a, careful_judge) for a in annotators)]
        await _drain(annotators, judges)
        board = (await http.get(f"{API}/dashboard", headers=host.headers)).json()
    left = {stage: {s: n for s, n in states.items() if s in UNSETTLED}
            for stage, states in board["progress"].items() if stage != "training"}
    if any(left.values()):
        raise RuntimeError(f"the campaign stopped with clips left {left}; refused requests: {dict(ledger.refusals)}")
    return refused.json().get("error", refused.text), board


def run_campaign(run: Run, out: Path, shards: Path) -> CampaignResult:
    """The whole campaign under ``out/campaign``; ``shards`` holds the demo's train/val/test shard folders."""
    directory, export = out / "campaign", out / "campaign_export"
    run("valor-data", "annotate", "init", str(directory), step="annotate")
    config = directory / "campaign.yaml"  # edited in place: its comments document the campaign
    text = re.sub(r"(?m)^qualification_min_accepted: *\d+", f"qualification_min_accepted: {QUALIFY_AFTER}",
                  config.read_text())
    config.write_text(re.sub(r"(?m)^rate_limit_per_minute: *\d+", f"rate_limit_per_minute: {REQUESTS_PER_MINUTE}",
                             text))
    for split, stage in (("val", "training"), ("test", "first"), ("train", "second")):
        run("valor-data", "annotate", "import", str(directory), str(shards / split), "--stage", stage,
            "--split", split, "--no-progress", step="annotate")
    server = ServerProcess(directory, out / "campaign_serve.log")
    invites = {"host": _invites(run, directory, server.url, "host", 1),
               "reviewer": _invites(run, directory, server.url, "reviewer", REVIEWERS),
               "annotator": _invites(run, directory, server.url, "annotator", ANNOTATORS)}
    server.start()
    try:
        refused, board = asyncio.run(_script(server.url, invites))
    finally:
        server.stop()
    run("valor-data", "annotate", "status", str(directory), step="annotate")
    run("valor-data", "annotate", "export", str(directory), "--out", str(export), step="annotate")
    descs = sorted(export.glob("desc_*.json"))
    acd = json.loads(run("valor-data", "acd", *map(str, descs), "--json", step="annotate"))
    return CampaignResult(
        accepted=sum(n for _round, n in board["rounds"]),
        rewritten=sum(n for rounds, n in board["rounds"] if rounds > 1),
        refused=refused, kappa=board["kappa"],
        flagged=[r["reviewer"] for r in board["reviewers"] if r["accepts_everything"]],
        acd=float(acd["acd"]), avg_len=float(acd["avg_len"]),
        outputs=[*descs, export / "provenance.parquet"])
