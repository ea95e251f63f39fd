"""Load on `valor-data annotate serve` at VALOR-1M scale, with the server SIGKILLed once and restarted.

1. A VALOR-1M-size shard directory is made (index.parquet + manifest.parquet: 1,180,000 ok clips with
   AudioSet labels drawn from the ontology; its tars are empty: no media is read by this benchmark) and
   imported (``annotate.importing.import_clips``, what `valor-data annotate import` runs) into a throwaway
   PostgreSQL 15: the import time and the database size.
2. The server starts; 500 scripted annotators and reviewers (``valor_data.annotate.simulate``, one asyncio
   process, think time compressed so the server sees >= 100 actions/s) work for 5 minutes through the JSON
   API; halfway through, the server is SIGKILLed and started again on the same database.
3. p50 / p95 of "next clip", "save", "next review" and "verdict" (goal p95 <= 150 ms), actions per second,
   and the campaign's promises checked on the database (``valor_data.annotate.invariants``): 0 acknowledged
   writes lost, 0 clips with two writers, 0 captions with a fourth or a self review.

The same runs on SQLite with 50 clients (``--sqlite``). The machine's load average is printed at the start and
the end: the figures move with it.

    python benchmarks/annotate_load.py [--clips 1180000] [--clients 500] [--duration 300] [--think 4]
        [--bad-share 0.2] [--no-kill] [--import-only] [--sqlite] [--keep DIR] [--json OUT]

With ``--keep DIR`` on PostgreSQL the imported database stays in DIR as a template that the next run with
the same DIR copies (``createdb -T``, seconds) instead of importing again, so the load can be rerun quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from valor_data.annotate import invariants  # noqa: E402
from valor_data.annotate.campaign import write_example  # noqa: E402
from valor_data.annotate.importing import import_clips  # noqa: E402
from valor_data.annotate.people import create_invites  # noqa: E402
from valor_data.annotate.simulate import (  # noqa: E402
    Agent,
    Ledger,
    ServerProcess,
    careful_judge,
    rubber_stamp,
    work_until,
)
from valor_data.annotate.state import Campaign  # noqa: E402
from valor_data.clip import MANIFEST_SCHEMA  # noqa: E402
from valor_data.ontology import load_ontology  # noqa: E402
from valor_data.shards.layout import INDEX_NAME, INDEX_SCHEMA, MANIFEST_NAME  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
YT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
GOAL_P95_MS = 150


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def make_source(out: Path, n: int, seed: int = 0) -> Path:
    """A shard directory's index and manifest for ``n`` ok clips of 10 s; its tars are empty files (the import
    checks they exist, nothing here reads media)."""
    rng = random.Random(seed)
    mids = sorted(load_ontology().classes)
    out.mkdir(parents=True, exist_ok=True)
    ytids = ["".join(rng.choice(YT_CHARS) for _ in range(11)) for _ in range(n)]
    starts = [float(rng.randrange(0, 300)) for _ in range(n)]
    clip_ids = [f"{y}_{s:.3f}_{s + 10:.3f}" for y, s in zip(ytids, starts, strict=True)]
    keys = [f"{y}_{int(s * 1000)}_{int((s + 10) * 1000)}" for y, s in zip(ytids, starts, strict=True)]
    shards = [f"valor-{i // 1000:06d}.tar" for i in range(n)]
    manifest = {name: [None] * n for name in MANIFEST_SCHEMA.names}
    manifest.update(clip_id=clip_ids, key=keys, ytid=ytids, start=starts, end=[s + 10 for s in starts],
                    labels=[rng.sample(mids, rng.randint(1, 3)) for _ in range(n)], captions=[[] for _ in range(n)],
                    status=["ok"] * n, message=[""] * n, attempts=[1] * n, shard=shards)
    pq.write_table(pa.table(manifest, schema=MANIFEST_SCHEMA), out / MANIFEST_NAME)
    members = ("flac", "mp4")
    index = {
        "key": [k for k in keys for _ in members], "clip_id": [c for c in clip_ids for _ in members],
        "shard": [s for s in shards for _ in members], "member": [m for _ in keys for m in members],
        "name": [f"{k}.{m}" for k in keys for m in members],
        "offset": [i * 1024 * 1024 + j * 512 * 1024 for i in range(n) for j in range(len(members))],
        "offset_data": [i * 1024 * 1024 + j * 512 * 1024 + 512 for i in range(n) for j in range(len(members))],
        "size": [400_000] * (n * len(members)),
    }
    pq.write_table(pa.table(index, schema=INDEX_SCHEMA), out / INDEX_NAME)
    for shard in sorted(set(shards)):
        (out / shard).touch()
    return out


def as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root (as in tests/conftest.py)."""
    return cmd if os.geteuid() != 0 else ["runuser", "-u", "nobody", "--", *cmd]


def start_postgres(base: Path | None = None) -> tuple[Path, str]:
    """A throwaway PostgreSQL 15 on a unix socket in a directory of its own (``base``, made when None; the
    server runs as another user when this runs as root); returns the directory and the server's URL without
    a database name. A ``base`` that holds a cluster already is started as it is."""
    base = base or Path(tempfile.mkdtemp(prefix="annotate-load-pg-"))
    data = base / "pgdata"
    base.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "nobody")
    os.chmod(base, 0o700)
    if not data.exists():
        subprocess.run(as_postgres_user([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                         "-E", "UTF8"]), check=True, capture_output=True)
    subprocess.run(as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "pg.log"),
                                     "-o", f"-k {base} -c listen_addresses='' -c max_connections=300", "start"]),
                   check=True, capture_output=True)
    return base, f"postgresql://postgres@/{{}}?host={base}"


def createdb(base: Path, name: str, template: str | None = None) -> None:
    subprocess.run(as_postgres_user([str(PG_BIN / "createdb"), "-h", str(base), "-U", "postgres",
                                     *(["-T", template] if template else []), name]), check=True, capture_output=True)


def stop_postgres(base: Path, remove: bool = True) -> None:
    subprocess.run(as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(base / "pgdata"), "-m", "fast", "stop"]),
                   capture_output=True)
    if remove:
        shutil.rmtree(base, ignore_errors=True)


def database_size(c: Campaign) -> int:
    with c.db.read() as conn:
        if c.db.postgres:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())
    return Path(c.db.url.split(":///", 1)[1]).stat().st_size


def init_campaign(directory: Path) -> None:
    """The example campaign of `valor-data annotate init`, its annotators qualified on joining."""
    write_example(directory)
    path = directory / "campaign.yaml"
    config = yaml.safe_load(path.read_text())
    config["qualification_min_accepted"] = 0  # the simulated annotators are qualified: no training round
    config["rate_limit_per_minute"] = 600
    path.write_text(yaml.safe_dump(config, sort_keys=False))


async def run_clients(server: ServerProcess, invites: list[tuple[str, str]], duration: float, think: float,
                      bad_share: float, kill_at: float | None, stamps: int) -> tuple[Ledger, dict]:
    """Every invite joins, then all work until ``duration`` is over; the server is SIGKILLed and restarted at
    ``kill_at`` seconds (None: never).

    Each person has an HTTP client of their own, as each has a browser: one client shared by 500 people
    spends its CPU scanning its connection pool on every request (httpcore's pool is linear in its
    connections) and the latencies measured would be the load generator's queue, not the server's. Each
    person starts after a random part of one think time, as people do not all click at the same instant.
    """
    ledger = Ledger()
    events: dict = {}
    async with contextlib.AsyncExitStack() as stack:
        # plain HTTP on loopback: no certificates to load for each of the clients
        https = [await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=30, verify=False))
                 for _ in invites]
        agents = [await Agent.join(http, invite, ledger, random.Random(i))
                  for i, ((invite, _role), http) in enumerate(zip(invites, https, strict=True))]
        ledger.latencies.clear()
        began = time.monotonic()
        deadline = began + duration

        async def person(i: int, agent: Agent) -> None:
            await asyncio.sleep(agent.rng.uniform(0, think))
            await work_until(agent, deadline, think, bad_share,
                             rubber_stamp if i >= len(agents) - stamps else careful_judge)

        tasks = [asyncio.create_task(person(i, a)) for i, a in enumerate(agents)]
        cpu_before_kill = 0.0
        if kill_at is not None:
            await asyncio.sleep(kill_at)
            actions_before = ledger.actions()
            cpu_before_kill = cpu_seconds(server.proc.pid)
            server.kill()
            killed = time.monotonic()
            restart_s = await asyncio.to_thread(server.start)
            events = {"killed_at_s": round(killed - began, 1), "restart_s": round(restart_s, 2),
                      "actions_before_kill": actions_before}
        await asyncio.gather(*tasks)
        events["elapsed_s"] = time.monotonic() - began
        events["server_cpu_s"] = cpu_before_kill + cpu_seconds(server.proc.pid)
        events["client_cpu_s"] = time.process_time()
    return ledger, events


def report(name: str, ledger: Ledger, events: dict, violations: invariants.Violations, clients: int) -> dict:
    rows = {}
    print(f"\n== {name}: {clients} clients, {events['elapsed_s']:.0f} s, load {load()}")
    print(f"{'operation':<12} {'n':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for op in ("next clip", "save", "next review", "verdict"):
        values = ledger.latencies.get(op, [])
        rows[op] = {"n": len(values), "p50_ms": 1000 * percentile(values, 0.5),
                    "p95_ms": 1000 * percentile(values, 0.95), "p99_ms": 1000 * percentile(values, 0.99)}
        r = rows[op]
        flag = "" if r["p95_ms"] <= GOAL_P95_MS else f"  (goal p95 <= {GOAL_P95_MS} ms)"
        print(f"{op:<12} {r['n']:>8} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f}{flag}")
    rate = ledger.actions() / events["elapsed_s"]
    captions = sum(a.kind == "caption" for a in ledger.acks)
    cpu = events["server_cpu_s"]
    print(f"server CPU {cpu:.0f} s = {1000 * cpu / max(1, ledger.actions()):.1f} ms per action "
          f"(one core serves at most {ledger.actions() / max(cpu, 1e-9):.0f} actions/s); clients' CPU "
          f"{events['client_cpu_s']:.0f} s")
    print(f"actions/s {rate:.0f}; acknowledged captions {captions}, verdicts {len(ledger.acks) - captions}; "
          f"unanswered requests {dict(ledger.errors)}; refusals {dict(ledger.refusals)}")
    if "killed_at_s" in events:
        print(f"server SIGKILLed at {events['killed_at_s']} s, answering again after {events['restart_s']} s")
    print(f"acknowledged writes lost: {len(violations.lost)}; clips with two writers: {violations.two_writers}; "
          f"captions with more reviews than reviewers: {violations.overfull}; self reviews: {violations.self_reviews}")
    return {"latency": rows, "actions_per_s": rate, "server_cpu_s": cpu, "acknowledged": len(ledger.acks), "events": events,
            "errors": dict(ledger.errors), "refusals": dict(ledger.refusals), "lost": len(violations.lost),
            "two_writers": violations.two_writers, "overfull": violations.overfull,
            "self_reviews": violations.self_reviews}


def import_once(args: argparse.Namespace, work: Path, directory: Path, db_url: str | None) -> dict:
    """Make the source and import it into ``db_url`` (SQLite when None): the import's figures."""
    began = time.monotonic()
    source = make_source(work / "source", args.clips)
    print(f"source: {args.clips:,} clips in {time.monotonic() - began:.1f} s")
    c = Campaign.open(directory, db_url)
    try:
        seconds = import_clips(c, source, "second", progress=True).seconds
        size = database_size(c)
    finally:
        c.close()
    shutil.rmtree(work / "source", ignore_errors=True)
    print(f"import: {args.clips:,} clips in {seconds:.1f} s ({args.clips / seconds:,.0f} clips/s); "
          f"database {size / 2**20:.0f} MiB")
    return {"seconds": seconds, "database_bytes": size}


def run(args: argparse.Namespace, work: Path) -> dict:
    sqlite = args.sqlite
    clients = args.clients or (50 if sqlite else 500)
    print(f"load at start {load()} ({os.cpu_count()} cores)")
    directory = work / "campaign"
    if not (directory / "campaign.yaml").exists():  # a kept DIR has its campaign already
        init_campaign(directory)
    result: dict = {"clips": args.clips, "clients": clients, "database": "sqlite" if sqlite else "postgresql"}
    pg = None
    if sqlite:
        db_url = None
        result["import"] = import_once(args, work, directory, db_url)
    else:
        # with --keep, the imported database is kept as a template: a later run copies it (seconds) instead
        # of importing again
        pg, server_url = start_postgres(work / "pg" if args.keep else None)
        marker = work / "imported.json"
        imported = json.loads(marker.read_text()) if args.keep and marker.exists() else None
        if imported is not None and imported["clips"] != args.clips:
            raise SystemExit(f"--keep {work}: its database holds {imported['clips']:,} clips, not --clips "
                             f"{args.clips:,}: use another directory")
        if imported is None:
            createdb(pg, "imported")
            imported = {"clips": args.clips, **import_once(args, work, directory, server_url.format("imported"))}
            if args.keep:
                marker.write_text(json.dumps(imported))
        else:
            print(f"import: reusing the {args.clips:,} clips imported in {work} ({imported['seconds']:.1f} s, "
                  f"database {imported['database_bytes'] / 2**20:.0f} MiB)")
        result["import"] = {k: imported[k] for k in ("seconds", "database_bytes")}
        db_url = server_url.format("imported")
        if args.keep and not args.import_only:
            run_db = f"run_{int(time.time())}"
            began = time.monotonic()
            createdb(pg, run_db, template="imported")
            print(f"copied the imported database to {run_db} in {time.monotonic() - began:.1f} s")
            db_url = server_url.format(run_db)
    try:
        if args.import_only:
            return result
        c = Campaign.open(directory, db_url)
        n_annotators = int(clients * args.annotator_share)
        invites = [(t, "annotator") for t in create_invites(c, "annotator", n_annotators)]
        invites += [(t, "reviewer") for t in create_invites(c, "reviewer", clients - n_annotators)]
        server = ServerProcess(directory, work / "serve.log", db_url)
        server.start()
        try:
            ledger, events = asyncio.run(run_clients(server, invites, args.duration, args.think, args.bad_share,
                                                     None if args.no_kill else args.duration / 2, args.stamps))
        finally:
            server.stop()
        violations = invariants.check(c, ledger.acks)
        result.update(report("PostgreSQL" if not sqlite else "SQLite", ledger, events, violations, clients))
        c.close()
    finally:
        if pg:
            stop_postgres(pg, remove=not args.keep)
    print(f"load at end {load()}")
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=1_180_000)
    p.add_argument("--clients", type=int, default=0, help="default 500 (PostgreSQL), 50 (--sqlite)")
    p.add_argument("--annotator-share", type=float, default=0.6, help="the rest are reviewers")
    p.add_argument("--stamps", type=int, default=5, help="reviewers who accept everything")
    p.add_argument("--duration", type=float, default=300.0, help="seconds of work")
    p.add_argument("--think", type=float, default=4.0, help="seconds between a client's actions (jittered)")
    p.add_argument("--bad-share", type=float, default=0.2, help="share of deliberately bad captions")
    p.add_argument("--no-kill", action="store_true", help="do not SIGKILL the server halfway")
    p.add_argument("--import-only", action="store_true", help="stop after the import")
    p.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    p.add_argument("--keep", type=Path, help="work in DIR and keep it; on PostgreSQL a later run with the same "
                   "DIR copies its imported database instead of importing again")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="annotate-load-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    bad = result.get("lost") or result.get("two_writers") or result.get("overfull") or result.get("self_reviews")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
