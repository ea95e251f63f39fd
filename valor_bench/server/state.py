"""The running server's state, built once at start: the challenge, the database, the store, and what the
server knows about each phase's ground truth (digest and sizes; the captions stay in the worker).

``open_server`` is also the start-up check: the database is migrated, every phase's ground truth is
loaded once (a missing or broken file stops the start with one line instead of failing every job), the
facts the workers need are written into the database, and leftovers of interrupted uploads are deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select

from valor_bench.ground_truth import GroundTruthError
from valor_bench.server.config import Challenge, ChallengeError
from valor_bench.server.schema import MIGRATIONS, phase_state
from valor_bench.server.security import MatrixBudget
from valor_bench.server.store import BlobStore
from valor_data.web.database import Database
from valor_data.web.ratelimit import RateLimiter

log = logging.getLogger("valor_bench.server")


@dataclass(frozen=True)
class PhaseFacts:
    gt_sha256: str
    n_clips: int
    n_texts: int
    gt_path: Path  # server-side only: never shown

    @property
    def budget(self) -> MatrixBudget:
        return MatrixBudget(self.n_texts, self.n_clips)


@dataclass
class ServerState:
    challenge: Challenge
    db: Database
    store: BlobStore
    facts: dict[str, PhaseFacts]
    limiter: RateLimiter
    secure_cookies: bool = False

    def hidden_strings(self) -> dict[str, str]:
        """Server-side strings a participant must never read, and what to show instead."""
        out = {str(self.store.root): "<server data>"}
        for f in self.facts.values():
            out[str(f.gt_path)] = "<ground truth>"
            out[f.gt_path.name] = "<ground truth>"
        return out


def open_server(challenge: Challenge, db_url: str, data_dir: str | Path, secure_cookies: bool = False) -> ServerState:
    """Prepare database, store and phase facts; raises ChallengeError with one line when something is unusable."""
    store = BlobStore(data_dir).create()
    removed = store.clean_incoming()
    if removed:
        log.info("removed %d interrupted upload(s) from %s", removed, store.incoming)
    facts: dict[str, PhaseFacts] = {}
    for phase in challenge.phases.values():
        try:
            gt = phase.ground_truth.load()
        except (GroundTruthError, FileNotFoundError, OSError) as e:
            raise ChallengeError(f"{challenge.path}: phase {phase.name}: ground truth unusable: {e}") from None
        facts[phase.name] = PhaseFacts(gt.sha256, gt.n_clips, gt.n_texts, gt.path.resolve())
    db = Database(db_url)
    db.migrate(MIGRATIONS)
    with db.write() as conn:
        db.set_setting(conn, "worker", {
            "data_dir": str(store.root), "lease_seconds": challenge.lease_seconds,
            "max_attempts": challenge.max_attempts, "eval_timeout_seconds": challenge.eval_timeout_seconds,
            "phases": {name: {"split": p.ground_truth.split,
                              "annotations": str(p.ground_truth.annotations) if p.ground_truth.annotations else None,
                              "gt_sha256": facts[name].gt_sha256}
                       for name, p in challenge.phases.items()},
        })
        known = set(conn.execute(select(phase_state.c.phase)).scalars())
        for phase in challenge.phases.values():
            if phase.name not in known:  # first start: the YAML's visibility; later the host's choice stands
                conn.execute(insert(phase_state).values(phase=phase.name, published=phase.visibility == "public",
                                                        changed_at=conn.execute(select(db.now())).scalar()))
    return ServerState(challenge, db, store, facts,
                       RateLimiter(challenge.rate_limit_requests, challenge.rate_limit_seconds), secure_cookies)
