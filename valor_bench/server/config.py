"""The challenge a server hosts, read from ``challenge.yaml``: tasks, phases, ground truth, limits, baselines.

The file is the host's; it is checked whole when the server starts, and every mistake is one line naming
the key (``challenge.yaml: phases[1].limits.per_day: expected a whole number >= 1, got 'ten'``), so a
typo never turns into a silently unlimited phase. What changes while the server runs (teams, submissions,
whether a phase's results are published) lives in the database, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from valor_bench.ground_truth import SHIPPED_SPLITS, GroundTruth, load_ground_truth
from valor_bench.metrics import METRICS, TASKS
from valor_data.config_reader import ConfigReader

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
EXTENSIONS = {"avr": (".npz", ".json"), "avc": (".json", ".jsonl")}
DEFAULT_UPLOAD_MB = {"avr": 512, "avc": 32}
VISIBILITIES = ("public", "private")


class ChallengeError(ValueError):
    """``challenge.yaml`` cannot be used: one line naming the key and what is wrong."""


@dataclass(frozen=True)
class Limits:
    """Submissions a team may make in a phase (failed ones do not count); None = no limit."""

    per_day: int | None = None  # per UTC calendar day
    per_month: int | None = None  # per UTC calendar month
    total: int | None = None


@dataclass(frozen=True)
class Baseline:
    """A published result shown on a board, marked "reported, not reproduced"."""

    task: str
    name: str
    metrics: dict
    modality: str | None = None
    external_data: str | None = None
    url: str | None = None
    note: str = "reported, not reproduced"


@dataclass(frozen=True)
class GroundTruthRef:
    """Where a phase's ground truth comes from: a VALOR-32K split the toolkit ships, or a file."""

    split: str | None = None
    annotations: Path | None = None

    def load(self) -> GroundTruth:
        return load_ground_truth(self.split, self.annotations)

    def describe(self) -> str:
        return f"split {self.split}" if self.split else str(self.annotations)


@dataclass(frozen=True)
class Phase:
    name: str
    title: str
    tasks: tuple[str, ...]
    ground_truth: GroundTruthRef
    visibility: str = "public"  # public: the board shows scores at once; private: hidden until published
    show_own_scores: bool = True  # in a private phase, a team still sees its own scores
    description: str = ""
    opens: datetime | None = None
    closes: datetime | None = None
    limits: Limits = field(default_factory=Limits)
    baselines: tuple[Baseline, ...] = ()


@dataclass(frozen=True)
class Challenge:
    path: Path
    title: str
    description: str
    phases: dict[str, Phase]
    max_upload_bytes: dict[str, int]
    host_token_sha256: str
    approval: bool = False  # teams wait for the host's approval before they can submit
    rate_limit_requests: int = 120  # per token (or per address without one)...
    rate_limit_seconds: float = 60.0  # ...in this window
    max_json_depth: int = 16
    max_json_bytes: int = 64 * 1024**2  # JSON submissions are parsed in memory (AVR rankings, AVC captions)
    lease_seconds: float = 60.0  # a worker's claim on a job; renewed every third of it while it lives
    max_attempts: int = 3  # leases of one job (worker deaths) before it is failed
    eval_timeout_seconds: float = 3600.0

    def phase(self, name: str) -> Phase:
        return self.phases[name]


# --------------------------------------------------------------------------------------------- parsing
class _Reader(ConfigReader):
    """challenge.yaml's values."""

    error = ChallengeError

    def text(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.data.get(name, default)
        if value is None and required:
            raise self.missing(name)
        if value is not None and not isinstance(value, str):
            raise self.fail(name, "a string")
        return value

    def whole(self, name: str, default: int | None) -> int | None:
        value = self.data.get(name, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise self.fail(name, "a whole number >= 1")
        return value

    def time(self, name: str) -> datetime | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value))
            except ValueError:
                raise self.fail(name, "an ISO date or time such as 2025-06-01 or 2025-06-01T12:00:00Z") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    def sub(self, name: str, known: set[str], default: object = None) -> _Reader:
        return _Reader(self.source, self.key(name), self.data.get(name, default if default is not None else {}),
                       known)


def _ground_truth(r: _Reader, base: Path) -> GroundTruthRef:
    g = r.sub("ground_truth", {"split", "annotations"})
    split, annotations = g.text("split"), g.text("annotations")
    if bool(split) == bool(annotations):
        raise ChallengeError(f"{r.source}: {g.where}: give exactly one of split ({'/'.join(SHIPPED_SPLITS)}) "
                             "or annotations (a VALOR-format JSON file)")
    if split and split not in SHIPPED_SPLITS:
        raise g.fail("split", f"one of {', '.join(SHIPPED_SPLITS)}")
    path = None
    if annotations:
        path = Path(annotations).expanduser()
        path = path if path.is_absolute() else (base / path).resolve()
        if not path.is_file():
            raise ChallengeError(f"{r.source}: {g.key('annotations')}: {path} not found")
    return GroundTruthRef(split, path)


def _baselines(r: _Reader, tasks: tuple[str, ...]) -> tuple[Baseline, ...]:
    raw = r.data.get("baselines") or []
    if not isinstance(raw, list):
        raise r.fail("baselines", "a list")
    out = []
    for i, item in enumerate(raw):
        b = _Reader(r.source, f"{r.key('baselines')}[{i}]", item,
                    {"task", "name", "metrics", "modality", "external_data", "url", "note"})
        task = b.text("task", required=True)
        if task not in tasks:
            raise b.fail("task", f"one of this phase's tasks ({', '.join(tasks)})")
        metrics = b.data.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            raise b.fail("metrics", "a mapping of metric names to numbers")
        _check_metrics(b, task, metrics)
        out.append(Baseline(task, b.text("name", required=True), metrics, b.text("modality"), b.text("external_data"),
                            b.text("url"), b.text("note", "reported, not reproduced")))
    return tuple(out)


def _check_metrics(b: _Reader, task: str, metrics: dict) -> None:
    known = METRICS[task]
    blocks = [(k, v) for k, v in metrics.items()] if task == "avc" else \
        [(f"{d}.{k}", v) for d, block in metrics.items() for k, v in (block or {}).items()]
    for key, value in blocks:
        name = key.split(".")[-1]
        if name not in known or (task == "avr" and key.split(".")[0] not in ("t2v", "v2t")):
            raise ChallengeError(f"{b.source}: {b.key('metrics')}: unknown {task.upper()} metric {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ChallengeError(f"{b.source}: {b.key('metrics')}.{key}: expected a number, got {value!r}")


def _phase(r: _Reader, base: Path) -> Phase:
    name = r.text("name", required=True)
    if not NAME_RE.match(name):
        raise r.fail("name", "a short lowercase name (letters, digits, - and _), e.g. test")
    tasks = r.data.get("tasks", list(TASKS))
    if not isinstance(tasks, list) or not tasks or any(t not in TASKS for t in tasks):
        raise r.fail("tasks", f"a non-empty list of {', '.join(TASKS)}")
    visibility = r.text("visibility", "public")
    if visibility not in VISIBILITIES:
        raise r.fail("visibility", "public (scores shown at once) or private (hidden until the host publishes)")
    lim = r.sub("limits", {"per_day", "per_month", "total"})
    phase = Phase(
        name=name, title=r.text("title", name), tasks=tuple(dict.fromkeys(tasks)), ground_truth=_ground_truth(r, base),
        visibility=visibility, show_own_scores=r.flag("show_own_scores", True),
        description=r.text("description", ""), opens=r.time("opens"), closes=r.time("closes"),
        limits=Limits(lim.whole("per_day", None), lim.whole("per_month", None), lim.whole("total", None)),
        baselines=_baselines(r, tuple(tasks)),
    )
    if phase.opens and phase.closes and phase.closes <= phase.opens:
        raise ChallengeError(f"{r.source}: {r.where}: closes ({phase.closes}) is not after opens ({phase.opens})")
    return phase


def load_challenge(path: str | Path) -> Challenge:
    """Read and check ``challenge.yaml``; raises :class:`ChallengeError` (one line) when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise ChallengeError(f"{path}: no such file (create one with: valor-bench challenge init DIR)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ChallengeError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    top = _Reader(path, "", data, {"title", "description", "host_token_sha256", "registration", "tasks",
                                   "phases", "server"})
    host = top.text("host_token_sha256", required=True)
    if not re.fullmatch(r"[0-9a-f]{64}", host):
        raise top.fail("host_token_sha256", "the sha256 hex digest of the host token (valor-bench challenge token)")
    tasks = top.sub("tasks", set(TASKS))
    upload = {}
    for task in TASKS:
        t = tasks.sub(task, {"max_upload_mb"})
        upload[task] = int(t.number("max_upload_mb", DEFAULT_UPLOAD_MB[task]) * 1024**2)
    raw_phases = data.get("phases")
    if not isinstance(raw_phases, list) or not raw_phases:
        raise top.fail("phases", "a non-empty list of phases")
    phases: dict[str, Phase] = {}
    for i, raw in enumerate(raw_phases):
        phase = _phase(_Reader(path, f"phases[{i}]", raw, {
            "name", "title", "description", "tasks", "ground_truth", "visibility", "show_own_scores", "opens",
            "closes", "limits", "baselines"}), path.parent.resolve())
        if phase.name in phases:
            raise ChallengeError(f"{path}: phases[{i}].name: phase {phase.name!r} is defined twice")
        phases[phase.name] = phase
    reg = top.sub("registration", {"approval"})
    srv = top.sub("server", {"rate_limit_requests", "rate_limit_seconds", "max_json_depth", "max_json_mb",
                             "lease_seconds", "max_attempts", "eval_timeout_seconds"})
    return Challenge(
        path=path.resolve(), title=top.text("title", "VALOR challenge"), description=top.text("description", ""),
        phases=phases, max_upload_bytes=upload, host_token_sha256=host, approval=reg.flag("approval", False),
        rate_limit_requests=srv.whole("rate_limit_requests", 120), rate_limit_seconds=srv.number("rate_limit_seconds", 60),
        max_json_depth=srv.whole("max_json_depth", 16), max_json_bytes=int(srv.number("max_json_mb", 64) * 1024**2),
        lease_seconds=srv.number("lease_seconds", 60),
        max_attempts=srv.whole("max_attempts", 3), eval_timeout_seconds=srv.number("eval_timeout_seconds", 3600),
    )
