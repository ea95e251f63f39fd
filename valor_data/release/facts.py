"""What a shard directory tells about the dataset it holds, read once for every part of the card.

Everything here is measured from the files ``fetch`` and ``shard`` wrote (stats.json, manifest.parquet,
shard_config.json, the fetch directory's fetch_config.json and task markers, the json members), so the card
states facts, not intentions. What the toolkit cannot know is left to the publisher (``datasheet``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from valor_data.clip import OK, REASONS, Status
from valor_data.fetch.filters import FILTERS
from valor_data.release.card_files import CardError
from valor_data.release.clips_table import read_clips, valor32k_split_of
from valor_data.shards.layout import CONFIG_NAME, MANIFEST_NAME, STATS_NAME

# The manifest status each download limit rejects a clip with (filters declare theirs: ClipFilter.statuses).
LIMIT_STATUSES: dict[str, tuple[Status, ...]] = {"--max-filesize": (Status.TOO_LARGE,), "--max-duration": (Status.TOO_LONG,)}


def statuses_of(name: str) -> tuple[Status, ...]:
    """The statuses a fetch filter or download limit (by name) rejects clips with."""
    return FILTERS[name].statuses if name in FILTERS else LIMIT_STATUSES.get(name, ())


@dataclass(frozen=True)
class Tar:
    name: str
    samples: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class FetchFacts:
    """The fetch the shards came from, when its directory is still there."""

    source: str  # youtube | mirror | local
    filters: tuple[str, ...]
    thresholds: dict
    limits: dict  # --max-filesize / --max-duration (None: no limit)
    normalize: dict  # frame rate, short side, sample rate... of the normalised media
    first: str | None  # UTC times (ISO 8601) of the first and last finished fetch task
    last: str | None


@dataclass(frozen=True)
class ProvenanceFacts:
    """A summary of the optional annotation provenance table (its columns are the campaign's to define)."""

    path: str
    rows: int
    columns: tuple[str, ...]
    means: dict[str, float]  # numeric columns (e.g. agreement scores)


@dataclass
class ShardFacts:
    name: str
    tars: list[Tar]
    stats: dict
    status: dict[str, int]  # manifest rows per status
    clips: pa.Table  # valor_data.release.clips_table.CLIPS_SCHEMA
    fetch: FetchFacts | None
    provenance: ProvenanceFacts | None
    valor32k: dict[str, tuple[int, int]] = field(default_factory=dict)  # split -> (clips here, clips in split)

    @property
    def samples(self) -> int:
        return self.clips.num_rows

    @property
    def failures(self) -> dict[str, int]:
        return {s: n for s, n in self.status.items() if s != OK}

    @property
    def splits(self) -> dict[str, int]:
        return dict(sorted(Counter(s or "unassigned" for s in self.clips.column("split").to_pylist()).items()))

    @property
    def captioned(self) -> int:
        return int(pc.sum(pc.greater(pc.list_value_length(self.clips.column("captions")), 0)).as_py() or 0)

    @property
    def captions(self) -> int:
        return int(pc.sum(pc.list_value_length(self.clips.column("captions"))).as_py() or 0)

    def removed_by_filters(self) -> dict[str, int]:
        """Clips each configured filter or limit rejected (zero counts kept: a filter that removed none)."""
        if self.fetch is None:
            return {}
        active = [*self.fetch.filters, *(k for k, v in self.fetch.limits.items() if v is not None)]
        return {name: sum(self.status.get(s.value, 0) for s in statuses_of(name)) for name in active if statuses_of(name)}

    def reason(self, status: str) -> str:
        try:
            return REASONS[Status(status)]
        except (ValueError, KeyError):
            return "unknown status"


def gather(shard_dir: str | Path, *, name: str | None = None, split: str | None = None,
           provenance: str | Path | None = None) -> ShardFacts:
    """Read every fact of ``shard_dir`` the card states. Raises :class:`CardError` for a directory that is
    not a finished shard run."""
    root = Path(shard_dir)
    if not root.is_dir():
        raise CardError(f"{root}: no such directory")
    stats = _json(root / STATS_NAME)
    config = _json(root / CONFIG_NAME)
    tars = [Tar(s["name"], s["samples"], s["bytes"], s["sha256"]) for s in stats.get("shard_list", [])]
    if not tars:
        raise CardError(f"{root / STATS_NAME}: lists no shards; nothing to describe")
    try:
        manifest = pq.read_table(root / MANIFEST_NAME, columns=["status"])
    except (OSError, pa.ArrowException) as e:
        raise CardError(f"{root / MANIFEST_NAME}: unreadable ({e}); give a directory written by a finished "
                        "`valor-data shard`") from None
    status = dict(sorted(Counter(manifest.column("status").to_pylist()).items()))
    clips = read_clips(root, split)
    facts = ShardFacts(name or root.resolve().name, tars, stats, status, clips,
                       _fetch_facts(Path(config.get("source", ""))), _provenance(provenance))
    facts.valor32k = _valor32k_coverage(clips)
    return facts


def _json(path: Path) -> dict:
    if not path.is_file():
        raise CardError(f"{path}: missing; give a directory written by a finished `valor-data shard`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CardError(f"{path}: unreadable ({e})") from None
    if not isinstance(data, dict):
        raise CardError(f"{path}: not a JSON object")
    return data


def _fetch_facts(src: Path) -> FetchFacts | None:
    """From the fetch directory ``shard`` read (shard_config.json's ``source``); None once it is gone."""
    try:
        config = json.loads((src / "fetch_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    outputs, run = config.get("outputs", {}), config.get("run", {})
    done = sorted(p.stat().st_mtime for p in (src / "_tasks").glob("*.parquet")) if (src / "_tasks").is_dir() else []
    day = [datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for t in (done[:1] + done[-1:])]
    return FetchFacts(
        source=str(run.get("source", "youtube")),
        filters=tuple(outputs.get("filters", ())),
        thresholds=dict(outputs.get("thresholds", {})),
        limits={"--max-filesize": outputs.get("max_filesize"), "--max-duration": outputs.get("max_duration")},
        normalize=dict(outputs.get("normalize", {})),
        first=day[0] if day else None,
        last=day[-1] if day else None,
    )


def _provenance(path: str | Path | None) -> ProvenanceFacts | None:
    if path is None:
        return None
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise CardError(f"--provenance {path}: not a readable parquet file ({e})") from None
    means = {}
    for name in table.column_names:
        column = table.column(name)
        if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and column.null_count < len(column):
            means[name] = round(float(pc.mean(column).as_py()), 4)
    return ProvenanceFacts(str(path), table.num_rows, tuple(table.column_names), means)


def _valor32k_coverage(clips: pa.Table) -> dict[str, tuple[int, int]]:
    """For each official VALOR-32K split some clip here belongs to: (its clips here, its clips in all)."""
    split_of = valor32k_split_of()
    totals = Counter(split_of.values())
    here = Counter(split_of[k] for k in clips.column("key").to_pylist() if k in split_of)
    return {s: (here[s], totals[s]) for s in sorted(here)}
