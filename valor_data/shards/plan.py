"""Plan a shard run in the driver: the options that decide the output bytes, and the cut of the ok clips
into shard tasks (sorted by key, so the same input always gives the same plan).

Options, sample specs and tasks are frozen and picklable: they travel to worker processes and Spark
executors.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from valor_data.clip import OK
from valor_data.engines.storage import resolve
from valor_data.ontology import load_ontology
from valor_data.shards.inputs import clean_captions
from valor_data.shards.layout import MEMBERS, ShardError

DEFAULT_SHARD_SIZE = 1000
_HEADER_BYTES = 512
_SAMPLE_OVERHEAD = len(MEMBERS) * _HEADER_BYTES + 2048  # headers + a typical json/txt, for --shard-bytes


@dataclass(frozen=True)
class ShardOptions:
    """The options that decide the output bytes; recorded in shard_config.json, a rerun must match them."""

    prefix: str = "valor"
    shard_size: int | None = DEFAULT_SHARD_SIZE  # samples per shard
    shard_bytes: int | None = None  # or: target tar size in bytes

    def __post_init__(self) -> None:
        if (self.shard_size is None) == (self.shard_bytes is None):
            raise ShardError("give exactly one of --shard-size and --shard-bytes")
        if self.shard_size is not None and self.shard_size < 1:
            raise ShardError(f"--shard-size must be >= 1, got {self.shard_size}")
        if self.shard_bytes is not None and self.shard_bytes < 1:
            raise ShardError(f"--shard-bytes must be >= 1, got {self.shard_bytes}")
        if not self.prefix or "/" in self.prefix or "." in self.prefix or self.prefix.startswith("-"):
            raise ShardError(f"--prefix {self.prefix!r}: use a plain name without '/', '.' or a leading '-'")


@dataclass(frozen=True)
class SampleSpec:
    """Everything a shard task needs to write one sample, decided in the driver."""

    key: str
    clip_id: str
    ytid: str
    start: float
    end: float
    labels: tuple[tuple[str, str], ...]  # (mid, name)
    captions: tuple[str, ...]
    probe: str  # JSON text from the manifest
    video_path: str  # relative to the fetch dir
    audio_path: str
    media_bytes: int = 0  # mp4 + flac sizes at planning: a re-fetched (changed) file changes the plan digest

    def as_tuple(self) -> tuple:
        """The fields in order, for digests (``dataclasses.asdict`` deep-copies: too slow at 1M samples)."""
        return tuple(getattr(self, name) for name in _SPEC_FIELDS)


_SPEC_FIELDS = tuple(f.name for f in fields(SampleSpec))


@dataclass(frozen=True)
class ShardTask:
    """One tar: picklable, so any distributor (process pool, Spark) can run it."""

    index: int
    name: str  # {prefix}-{index:06d}.tar
    src_dir: str
    out_dir: str
    samples: tuple[SampleSpec, ...]
    digest: str = field(default="")  # sha256 of the spec: a marker from another plan is not "done"


@dataclass
class Plan:
    """The tasks of a run, and what planning set aside (reported in the summary)."""

    tasks: list[ShardTask]
    missing_media: dict[str, str]  # key -> message, ok rows whose media files are gone
    captions_unmatched: int = 0
    caption_bad_rows: list[str] = field(default_factory=list)
    digest: str = ""


def plan_shards(
    src_dir: str | Path,
    out_dir: str | Path,
    manifest: pa.Table,
    options: ShardOptions,
    captions: dict[str, tuple[str, ...]] | None = None,
) -> Plan:
    """Decide the shards: ok rows sorted by key, cut by sample count or by estimated tar bytes."""
    ontology = load_ontology()
    src = Path(src_dir).resolve()
    captions = captions or {}
    samples: list[SampleSpec] = []
    missing: dict[str, str] = {}
    ok_keys: set[str] = set()
    columns = ["key", "clip_id", "ytid", "start", "end", "labels", "captions", "probe", "video_path", "audio_path"]
    ok_rows = manifest.filter(pc.equal(manifest.column("status"), OK)).select(columns).to_pylist()
    for row in sorted(ok_rows, key=lambda r: r["key"]):
        ok_keys.add(row["key"])
        size, problem = _media_size(str(src), row)
        if problem:
            missing[row["key"]] = problem
            continue
        caps = captions[row["key"]] if row["key"] in captions else clean_captions(row["captions"])
        spec = SampleSpec(
            key=row["key"],
            clip_id=row["clip_id"],
            ytid=row["ytid"],
            start=float(row["start"]),
            end=float(row["end"]),
            labels=tuple((mid, ontology.name(mid)) for mid in (row["labels"] or ())),
            captions=caps,
            probe=row["probe"] or "{}",
            video_path=row["video_path"],
            audio_path=row["audio_path"],
            media_bytes=size,
        )
        samples.append(spec)
    groups = _cut(samples, options)
    tasks = []
    for i, group in enumerate(groups):
        name = f"{options.prefix}-{i:06d}.tar"
        specs = tuple(group)
        digest = sha256_json([name, [s.as_tuple() for s in specs]])
        tasks.append(ShardTask(i, name, str(src), resolve(out_dir), specs, digest))
    plan_digest = sha256_json([t.digest for t in tasks])
    unmatched = sum(1 for k in captions if k not in ok_keys)
    return Plan(tasks, missing, unmatched, digest=plan_digest)


def _media_size(src: str, row: dict) -> tuple[int, str]:
    size = 0
    for col in ("video_path", "audio_path"):
        rel = row[col]
        if not rel:
            return 0, f"status ok but {col} is empty in the fetch manifest"
        try:
            size += os.stat(os.path.join(src, rel)).st_size  # os.path: pathlib costs seconds at 1M clips
        except OSError:
            return 0, f"status ok but {col} {rel} is missing from {src}"
    return size, ""


def _cut(samples: list[SampleSpec], options: ShardOptions) -> list[list[SampleSpec]]:
    if options.shard_size is not None:
        n = options.shard_size
        return [samples[i : i + n] for i in range(0, len(samples), n)]
    groups: list[list[SampleSpec]] = []
    current: list[SampleSpec] = []
    current_bytes = 0
    for spec in samples:
        est = spec.media_bytes + _SAMPLE_OVERHEAD
        if current and current_bytes + est > options.shard_bytes:
            groups.append(current)
            current, current_bytes = [], 0
        current.append(spec)
        current_bytes += est
    if current:
        groups.append(current)
    return groups


def sha256_json(obj: object) -> str:
    """Digest of a JSON-able value, independent of dict order: plan, task and captions fingerprints."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
