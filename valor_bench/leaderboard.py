"""The local SQLite leaderboard: one row per scored submission or published (reference) result.

Each reproduced row keeps what is needed to trust it later: the submission's sha256 (a byte-identical
resubmission to the same task and ground truth is refused), the ground truth's sha256, the scores and
their coverage, a UTC timestamp and the toolkit and metric versions. Reference rows hold numbers copied
from a paper and are marked "reported, not reproduced".

Rows are only ever ranked on a :class:`Board`: one ground truth (split label + annotation sha256) and one
coverage (full, or one available set of clips, identified by its digest). Numbers on different ground
truths or different clips are not comparable, so they never share a rank.

Schema versions (``PRAGMA user_version``): 0/1 the first layout; 2 adds the coverage columns
(``scored_clips``, ``split_clips``, ``coverage_share``, ``availability_digest``, ``partial``).
:func:`connect` upgrades an older file in place; rows stored before coverage existed were validated
against every clip, so they are full coverage.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from valor_bench import __version__
from valor_bench.coverage import Coverage
from valor_bench.ground_truth import SHIPPED_SPLITS
from valor_bench.metrics import MAIN_METRIC, main_metric_label, metric_info, metric_versions

SCHEMA_VERSION = 2
COVERAGE_COLUMNS = (("scored_clips", "INTEGER"), ("split_clips", "INTEGER"), ("coverage_share", "REAL"),
                    ("availability_digest", "TEXT"), ("partial", "INTEGER NOT NULL DEFAULT 0"))
COVERAGE_VIEWS = ("grouped", "full", "all")

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
    metric_versions_json TEXT NOT NULL,
    scored_clips INTEGER,
    split_clips INTEGER,
    coverage_share REAL,
    availability_digest TEXT,
    partial INTEGER NOT NULL DEFAULT 0
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


class LeaderboardError(ValueError):
    """The SQLite file cannot be used (made by a newer valor-bench, or not a leaderboard)."""


def default_db_path() -> Path:
    """``$VALOR_LEADERBOARD``, else ``$XDG_CACHE_HOME/valor/leaderboard.sqlite`` (``~/.cache`` by default)."""
    env = os.environ.get("VALOR_LEADERBOARD")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "valor" / "leaderboard.sqlite"


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating or upgrading) the leaderboard file; raises :class:`LeaderboardError`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        conn.executescript(SCHEMA)
        migrate(conn, str(path))
    except sqlite3.DatabaseError as e:
        conn.close()
        raise LeaderboardError(f"{path}: not a usable leaderboard file ({e})") from None
    except LeaderboardError:
        conn.close()
        raise
    return conn


def _coverage_values(coverage: dict | None) -> tuple:
    cov = Coverage.from_json(coverage)
    if cov is None:
        return None, None, None, None, 0
    return cov.scored, cov.split_clips, cov.share, cov.digest, int(cov.partial)


def migrate(conn: sqlite3.Connection, where: str = "leaderboard") -> int:
    """Bring the file to :data:`SCHEMA_VERSION` in one transaction; returns the version it had."""
    conn.execute("BEGIN IMMEDIATE")  # a second process waits here, then sees the upgraded file
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LeaderboardError(f"{where}: schema version {version} was written by a newer valor-bench (this one "
                                   f"knows up to {SCHEMA_VERSION}): upgrade valor-bench")
        if version < 2:
            have = {r[1] for r in conn.execute("PRAGMA table_info(submissions)")}
            for name, decl in COVERAGE_COLUMNS:
                if name not in have:
                    conn.execute(f"ALTER TABLE submissions ADD COLUMN {name} {decl}")
            for row in conn.execute("SELECT id, scores_json FROM submissions").fetchall():
                coverage = json.loads(row["scores_json"]).get("coverage")
                if coverage:
                    conn.execute("UPDATE submissions SET scored_clips = ?, split_clips = ?, coverage_share = ?, "
                                 "availability_digest = ?, partial = ? WHERE id = ?",
                                 (*_coverage_values(coverage), row["id"]))
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


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
    coverage: Coverage | None = None  # None: full coverage, clip counts not recorded (older rows, papers)

    @property
    def partial(self) -> bool:
        return self.coverage is not None and self.coverage.partial

    @property
    def ground_truth(self) -> tuple[str, str | None]:
        """What the row was scored against: the split label and the annotation file's sha256."""
        return self.split, self.gt_sha256

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
        coverage=(Coverage(row["scored_clips"], row["split_clips"], row["availability_digest"])
                  if row["scored_clips"] is not None and row["split_clips"] is not None else None),
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
    """Store a scored submission; raises :class:`DuplicateSubmission` for a byte-identical resubmission.

    ``scores`` is :meth:`Evaluation.scores`: its ``coverage`` fills the coverage columns (none: full).
    """
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
            " metric_versions_json, scored_clips, split_clips, coverage_share, availability_digest, partial)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task, split, name, metadata.get("model_name"), metadata.get("modality"), metadata.get("external_data"),
             metadata.get("url"), submission_file, submission_sha256, gt_sha256, json.dumps(scores), _now(),
             __version__, json.dumps(metric_versions()), *_coverage_values(scores.get("coverage"))),
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


# ----------------------------------------------------------------------------------------------- boards
@dataclass
class Board:
    """Rows that may be ranked against each other: one ground truth, one coverage (or all, on request)."""

    task: str
    split: str
    gt_sha256: str | None
    view: str  # "full" | "partial" (one available set) | "all" (every coverage, on request)
    entries: list[Entry]
    coverage: Coverage | None = None  # the available set's coverage for a "partial" board
    hidden_partial: int = 0  # partial rows of this ground truth a "full" view leaves out

    @property
    def ground_truth_label(self) -> str:
        sha = f"annotations sha256 {self.gt_sha256[:12]}" if self.gt_sha256 else "annotations not recorded"
        name = f"VALOR-32K {self.split}" if self.split in SHIPPED_SPLITS else self.split
        return f"{name} ({sha})"

    @property
    def coverage_label(self) -> str:
        if self.view == "full":
            return "full coverage"
        if self.view == "all":
            return "ALL coverages ranked together (partial rows were scored on fewer clips: not comparable)"
        alone = ("stands alone: no other entry was scored on the same clips" if len(self.entries) == 1
                 else "ranked only against entries scored on the same clips")
        return f"{self.coverage.describe()}; {alone}"

    def title(self) -> str:
        return (f"{self.task.upper()} leaderboard: {self.ground_truth_label}, {self.coverage_label}; "
                f"ranked by {main_metric_label(self.task)}")


def _gt_order(key: tuple[str, str | None]) -> tuple:
    split, sha = key
    rank = SHIPPED_SPLITS.index(split) if split in SHIPPED_SPLITS else len(SHIPPED_SPLITS)
    return (rank, split, sha or "")


def group_boards(rows: list[Entry], view: str = "grouped") -> list[Board]:
    """Split ``rows`` (best first, as :func:`entries` returns them) into boards, keeping their order.

    ``grouped``: per ground truth, the full-coverage board, then one board per available set (partial
    entries are ranked only against entries with the same digest); ``full``: full-coverage boards only;
    ``all``: one board per ground truth with every entry, whatever its coverage.
    """
    if view not in COVERAGE_VIEWS:
        raise ValueError(f"unknown coverage view {view!r}: choose one of {', '.join(COVERAGE_VIEWS)}")
    by_gt: dict[tuple[str, str | None], list[Entry]] = {}
    for e in rows:
        by_gt.setdefault(e.ground_truth, []).append(e)
    boards: list[Board] = []
    for (split, sha), group in sorted(by_gt.items(), key=lambda kv: _gt_order(kv[0])):
        task = group[0].task
        if view == "all":
            boards.append(Board(task, split, sha, "all", group))
            continue
        full = [e for e in group if not e.partial]
        partial = [e for e in group if e.partial]
        if full or view == "full":
            boards.append(Board(task, split, sha, "full", full, hidden_partial=len(partial) if view == "full" else 0))
        if view == "grouped":
            by_digest: dict[str, list[Entry]] = {}
            for e in partial:
                by_digest.setdefault(e.coverage.digest, []).append(e)
            for same in sorted(by_digest.values(), key=lambda es: (-es[0].coverage.share, es[0].coverage.digest)):
                boards.append(Board(task, split, sha, "partial", same, coverage=same[0].coverage))
    return boards


def board_of(boards: list[Board], entry_id: int) -> tuple[Board, int]:
    """The board holding ``entry_id`` and the entry's 1-based position on it."""
    for board in boards:
        for i, e in enumerate(board.entries, 1):
            if e.id == entry_id:
                return board, i
    raise KeyError(entry_id)
