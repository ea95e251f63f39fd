"""Plan a fetch: the options that shape OUT, the deterministic cut of clips into tasks, and
``fetch_config.json``, which a rerun must match (same inputs, task size and output-shaping options).

Options and tasks are frozen and picklable: they travel to worker processes and Spark executors.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from valor_data.atomic import atomic_write_bytes
from valor_data.clip import ClipRef
from valor_data.fetch.filters import (
    ALL_THRESHOLDS,
    DEFAULT_FILTERS,
    FILTERS,
    build_filters,
    thresholds_of,
)
from valor_data.fetch.normalize import NormalizeOptions
from valor_data.fetch.sources import DownloadOptions
from valor_data.inputs import BadRow

CONFIG_VERSION = 1
MAX_AUTO_TASK_SIZE = 100


class FetchConfigError(Exception):
    """OUT was made with options or inputs that differ from this run's."""


@dataclass(frozen=True)
class FetchOptions:
    download: DownloadOptions = field(default_factory=DownloadOptions)
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    filters: tuple[str, ...] = DEFAULT_FILTERS
    thresholds: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        build_filters(self.filters, dict(self.thresholds))  # fail loudly now, not in a worker

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any], explicit: Collection[str] = ()) -> FetchOptions:
        """Options from flat values named like the fields of :class:`DownloadOptions` and
        :class:`NormalizeOptions`, the filters' thresholds, and ``filters`` (a list of names): the
        ``valor-data fetch`` flags, each with one name. The thresholds of the chosen filters are kept;
        one that none of them takes is an error when it was set by the user (named in ``explicit``).
        Raises ValueError (one line) for unknown names and bad values."""
        flags = dict(flags)
        filters = tuple(flags.pop("filters", DEFAULT_FILTERS))
        unknown = [n for n in filters if n not in FILTERS]
        if unknown:
            raise ValueError(f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}")
        taken = thresholds_of(filters)
        thresholds = {}
        for name in sorted(ALL_THRESHOLDS & flags.keys()):
            value = flags.pop(name)
            if name in taken:
                thresholds[name] = float(value)
            elif name in explicit:
                raise ValueError(f"--{name.replace('_', '-')} is set but none of --filters {','.join(filters)} uses it")
        download = {f.name: flags.pop(f.name) for f in fields(DownloadOptions) if f.name in flags}
        normalize = {f.name: flags.pop(f.name) for f in fields(NormalizeOptions) if f.name in flags}
        if flags:
            raise ValueError(f"unknown fetch option(s): {', '.join(sorted(flags))}")
        return cls(DownloadOptions(**download), NormalizeOptions(**normalize), filters, tuple(thresholds.items()))

    def output_config(self) -> dict:
        """The options that change what lands in OUT; a rerun must not change them."""
        d = self.download
        return {
            "format": d.format,
            "max_filesize": d.max_filesize,
            "max_duration": d.max_duration,
            "filters": list(self.filters),
            "thresholds": dict(sorted(self.thresholds)),
            "normalize": {k: v for k, v in asdict(self.normalize).items() if k != "timeout_s"},
        }

    def run_config(self) -> dict:
        """Options that may change between runs (where and how to download), recorded for information;
        no secrets: the proxy loses its user:password, yt-dlp parameters keep only their names."""
        d = asdict(self.download)
        d["ytdlp_params"] = sorted(k for k, _ in self.download.ytdlp_params)
        if d["proxy"]:
            d["proxy"] = re.sub(r"//[^/@]*@", "//***@", d["proxy"])
        for k in ("format", "max_filesize", "max_duration"):
            d.pop(k)
        return d


@dataclass(frozen=True)
class FetchTask:
    """One unit of work, retry and resume: a slice of the sorted clips and where its outputs go."""

    index: int
    out_dir: str
    clips: tuple[ClipRef, ...]
    options: FetchOptions

    @property
    def name(self) -> str:
        return f"{self.index:05d}"

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    @property
    def part_path(self) -> Path:
        return self.out / "_tasks" / f"{self.name}.parquet"

    @property
    def journal_path(self) -> Path:
        """The unfinished task's journal (``valor_data.fetch.journal``); deleted once the task is done."""
        return self.out / "_tasks" / f"{self.name}.journal"

    @property
    def clip_dir(self) -> Path:
        return self.out / "clips" / self.name

    @property
    def work_dir(self) -> Path:
        return self.out / "_work" / self.name

    @property
    def error_log(self) -> Path:
        """Tracebacks of this task's unexpected errors (status ``error``): kept after the run."""
        return self.out / "_errors" / f"{self.name}.log"

    @property
    def lock_path(self) -> Path:
        return self.out / "_tasks" / f"{self.name}.lock"

    def media_paths(self, clip: ClipRef) -> tuple[str, str]:
        """Video and audio paths relative to OUT (POSIX separators, as stored in the manifest)."""
        return f"clips/{self.name}/{clip.key}.mp4", f"clips/{self.name}/{clip.key}.flac"


@dataclass
class TaskResult:
    index: int
    clips: int
    counts: dict[str, int]
    resumed: int = 0  # clips taken over from an interrupted run's journal
    seconds: float = 0.0


def auto_task_size(n_clips: int, workers: int = 4) -> int:
    """About four tasks per worker (balance) of several clips each (downloads prefetched within a task),
    at most 100 clips per task. Chosen on the first run and kept in fetch_config.json for the reruns."""
    return max(1, min(MAX_AUTO_TASK_SIZE, math.ceil(n_clips / (4 * max(1, workers)))))


def plan_order(clip: ClipRef) -> tuple[str, int, int]:
    """The order of the plan: (ytid, start, end), ``ClipRef``'s own order, as a sort key (a million
    dataclass comparisons take seconds, one key per clip does not)."""
    return clip.ytid, clip.start_ms, clip.end_ms


def plan_tasks(clips: Iterable[ClipRef], out_dir: str | os.PathLike, options: FetchOptions,
               task_size: int) -> list[FetchTask]:
    """Sort the clips (ytid, start, end) and cut them into tasks of ``task_size``: deterministic."""
    ordered = sorted(clips, key=plan_order)
    out = str(Path(out_dir).resolve())
    return [FetchTask(i, out, tuple(ordered[o:o + task_size]), options)
            for i, o in enumerate(range(0, len(ordered), task_size))]


def input_fingerprint(clips: Iterable[ClipRef], bad_rows: Sequence[BadRow], *, in_plan_order: bool = False) -> str:
    """sha256 over every clip (in plan order: its key, labels and captions) and every invalid row.

    Each clip contributes the bytes of ``json.dumps([key, labels, captions])``, built from json's own C
    string escaper instead of a ``json.dumps`` call per clip (a million clips: seconds saved at every
    rerun). ``in_plan_order`` skips the sort when the caller already holds the plan's order."""
    esc = json.encoder.encode_basestring_ascii
    h = hashlib.sha256()
    chunk: list[str] = []
    for c in clips if in_plan_order else sorted(clips, key=plan_order):
        # the key ({ytid}_{start_ms}_{end_ms}, validated characters) needs no escaping
        chunk.append(f'["{c.ytid}_{c.start_ms}_{c.end_ms}", [{", ".join(map(esc, c.labels))}], '
                     f'[{", ".join(map(esc, c.captions))}]]')
        if len(chunk) >= 10_000:
            h.update("".join(chunk).encode())
            chunk.clear()
    h.update("".join(chunk).encode())
    for b in bad_rows:
        h.update(json.dumps([b.raw, b.message]).encode())
    return h.hexdigest()


def stored_task_size(out_dir: Path) -> int | None:
    try:
        return int(json.loads((out_dir / "fetch_config.json").read_text())["task_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_config(out_dir: Path, config: dict) -> None:
    """Write ``fetch_config.json`` on the first run; on a rerun refuse any change that alters the outputs."""
    path = out_dir / "fetch_config.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError as e:
            raise FetchConfigError(f"{path} is not valid JSON ({e}); remove it only if OUT is empty") from None
        diffs = config_changes(old, config)
        if diffs:
            raise FetchConfigError(
                f"{out_dir} holds a fetch with different inputs or options; rerun with the same ones to resume, "
                "or choose another --out. What differs (this OUT's → this run's):\n" + "\n".join(diffs))
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def _flag_value(value: object) -> str:
    """A recorded option as it is typed on the command line."""
    if value is None:
        return "(default)"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option_leaves(section: object) -> dict[str, object]:
    """``--flag -> value`` of a recorded section: nested option groups (normalize, thresholds) flattened."""
    out: dict[str, object] = {}
    for key, value in (section or {}).items() if isinstance(section, dict) else ():
        if isinstance(value, dict):
            out.update(_option_leaves(value))
        else:
            out[f"--{key.replace('_', '-')}"] = value
    return out


def config_changes(old: dict, new: dict) -> list[str]:
    """What differs between a stored ``fetch_config.json`` and this run's, one line each: ``--crf 23 → 30``
    for an option, the clip counts and fingerprints for the inputs."""
    lines = []
    if old.get("inputs") != new["inputs"]:
        was, now = old.get("inputs") or {}, new["inputs"]
        lines.append(f"inputs {was.get('clips')} clips (sha256 {str(was.get('sha256'))[:12]}) → "
                     f"{now['clips']} clips (sha256 {now['sha256'][:12]})")
    before = {"--task-size": old.get("task_size"), **_option_leaves(old.get("outputs"))}
    after = {"--task-size": new["task_size"], **_option_leaves(new["outputs"])}
    for flag in dict.fromkeys([*after, *before]):  # in the order of this run's config
        if before.get(flag) != after.get(flag):
            lines.append(f"{flag} {_flag_value(before.get(flag))} → {_flag_value(after.get(flag))}")
    return lines


def plan_digest(config: dict) -> str:
    """What makes two runs the same job: the inputs, the task size and the output-shaping options."""
    same = {k: config[k] for k in ("version", "inputs", "task_size", "outputs")}
    return hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()


def fetch_config(clips: Sequence[ClipRef], bad_rows: Sequence[BadRow], options: FetchOptions,
                 task_size: int, *, in_plan_order: bool = False) -> dict:
    """What ``fetch_config.json`` records: inputs fingerprint, task size, output-shaping and run options."""
    return {
        "version": CONFIG_VERSION,
        "inputs": {"clips": len(clips), "invalid_rows": len(bad_rows),
                   "sha256": input_fingerprint(clips, bad_rows, in_plan_order=in_plan_order)},
        "task_size": task_size,
        "outputs": options.output_config(),
        "run": options.run_config(),
    }
