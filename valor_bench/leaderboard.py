"""The local SQLite leaderboard: one row per scored submission or published (reference) result.

Each reproduced row keeps what is needed to trust it later: the submission's sha256 (a byte-identical
resubmission to the same task and ground truth is refused), the ground truth's sha256, the scores,
a UTC timestamp and the toolkit and metric versions. Reference rows hold numbers copied from a paper
and are marked "reported, not reproduced".
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from valor_bench import __version__
from valor_bench.metrics import MAIN_METRIC, metric_info, metric_versions

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    split TEXT NOT NULL,
    name TEXT NOT NULL,
    model_name TEXT,
    modality TEXT,
    external_data TEXT,
    url TEXT,
    submission_file TEXT,
    submission_sha256 TEXT,
    gt_sha256 TEXT,
    scores_json TEXT NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    created_at TEXT NOT NULL,
    toolkit_version TEXT NOT NULL,
    metric_versions_json TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_row_per_file
    ON submissions (task, gt_sha256, submission_sha256) WHERE submission_sha256 IS NOT NULL;
"""

REPORTED_NOTE = "reported, not reproduced"
PAPER = "Chen et al. 2023, VALOR (arXiv:2304.08345)"
# The VALOR paper's VALOR-32K test results: AVR text-to-video R@1/5/10, AVC BLEU-4/METEOR/ROUGE-L/CIDEr.
REFERENCE_ROWS = (
    ("avr", "VALOR-B", {"t2v": {"R@1": 67.9, "R@5": 89.7, "R@10": 94.4}, "v2t": None}),
    ("avr", "VALOR-L", {"t2v": {"R@1": 73.2, "R@5": 91.6, "R@10": 95.4}, "v2t": None}),
    ("avc", "VALOR-B", {"BLEU-4": 8.9, "METEOR": 14.8, "ROUGE-L": 30.8, "CIDEr": 55.7}),
    ("avc", "VALOR-L", {"BLEU-4": 9.6, "METEOR": 15.4, "ROUGE-L": 31.8, "CIDEr": 61.5}),
)


class DuplicateSubmission(ValueError):
    """This exact file was already scored on this task and ground truth."""


def default_db_path() -> Path:
    """``$VALOR_LEADERBOARD``, else ``$XDG_CACHE_HOME/valor/leaderboard.sqlite`` (``~/.cache`` by default)."""
    env = os.environ.get("VALOR_LEADERBOARD")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "valor" / "leaderboard.sqlite"


def connect(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA)
    return conn


@dataclass
class Entry:
    id: int
    task: str
    split: str
    name: str
    model_name: str | None
    modality: str | None
    external_data: str | None
    url: str | None
    submission_sha256: str | None
    gt_sha256: str | None
    scores: dict
    reported: bool
    note: str | None
    created_at: str
    toolkit_version: str
    metric_versions: dict

    @property
    def metrics(self) -> dict:
        return self.scores.get("metrics") or {}

    def value(self, direction: str | None, name: str) -> float | None:
        block = self.metrics.get(direction) if direction else self.metrics
        return None if not block else block.get(name)

    @property
    def source(self) -> str:
        return REPORTED_NOTE if self.reported else f"reproduced (sha256 {self.submission_sha256[:12]})"


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        id=row["id"], task=row["task"], split=row["split"], name=row["name"], model_name=row["model_name"],
        modality=row["modality"], external_data=row["external_data"], url=row["url"],
        submission_sha256=row["submission_sha256"], gt_sha256=row["gt_sha256"],
        scores=json.loads(row["scores_json"]), reported=bool(row["reported"]), note=row["note"],
        created_at=row["created_at"], toolkit_version=row["toolkit_version"],
        metric_versions=json.loads(row["metric_versions_json"]),
    )


def find_duplicate(conn: sqlite3.Connection, task: str, gt_sha256: str, submission_sha256: str) -> Entry | None:
    row = conn.execute(
        "SELECT * FROM submissions WHERE task = ? AND gt_sha256 = ? AND submission_sha256 = ?",
        (task, gt_sha256, submission_sha256),
    ).fetchone()
    return _entry(row) if row else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def add_submission(conn: sqlite3.Connection, *, task: str, split: str, name: str, metadata: dict,
                   submission_file: str, submission_sha256: str, gt_sha256: str, scores: dict) -> int:
    """Store a scored submission; raises :class:`DuplicateSubmission` for a byte-identical resubmission."""
    dup = find_duplicate(conn, task, gt_sha256, submission_sha256)
    if dup:
        raise DuplicateSubmission(
            f"{submission_file}: byte-identical to submission #{dup.id} {dup.name!r} of {dup.created_at} "
            f"(sha256 {submission_sha256[:12]}); not stored again"
        )
    with conn:
        cur = conn.execute(
            "INSERT INTO submissions (task, split, name, model_name, modality, external_data, url, submission_file,"
            " submission_sha256, gt_sha256, scores_json, reported, created_at, toolkit_version,"
            " metric_versions_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (task, split, name, metadata.get("model_name"), metadata.get("modality"), metadata.get("external_data"),
             metadata.get("url"), submission_file, submission_sha256, gt_sha256, json.dumps(scores), _now(),
             __version__, json.dumps(metric_versions())),
        )
    return int(cur.lastrowid)


def add_reference_rows(conn: sqlite3.Connection, gt_sha256: str | None) -> int:
    """Enter the paper's VALOR-B / VALOR-L results on VALOR-32K test once; returns how many were added."""
    added = 0
    with conn:
        for task, name, metrics in REFERENCE_ROWS:
            exists = conn.execute(
                "SELECT 1 FROM submissions WHERE reported = 1 AND task = ? AND name = ? AND split = 'test'",
                (task, name),
            ).fetchone()
            if exists:
                continue
            conn.execute(
                "INSERT INTO submissions (task, split, name, model_name, modality, external_data, url, gt_sha256,"
                " scores_json, reported, note, created_at, toolkit_version, metric_versions_json)"
                " VALUES (?, 'test', ?, ?, 'av', ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                (task, name, name, "large-scale pretraining (see paper)", "https://arxiv.org/abs/2304.08345",
                 gt_sha256, json.dumps({"metrics": metrics, "metrics_dsl": None, "lower_bounds": []}),
                 f"{REPORTED_NOTE}: {PAPER}", _now(), __version__, json.dumps({"source": PAPER})),
            )
            added += 1
    return added


def entries(conn: sqlite3.Connection, task: str, split: str | None = None) -> list[Entry]:
    """Rows of ``task`` (and ``split``), best first by the task's main metric; missing values last."""
    query, args = "SELECT * FROM submissions WHERE task = ?", [task]
    if split:
        query += " AND split = ?"
        args.append(split)
    rows = [_entry(r) for r in conn.execute(query + " ORDER BY id", args)]
    direction, name = MAIN_METRIC[task]
    sign = -1 if metric_info(task, name).higher_is_better else 1
    return sorted(rows, key=lambda e: (e.value(direction, name) is None, sign * (e.value(direction, name) or 0)))
