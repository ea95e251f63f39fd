"""Pack a fetch output directory into WebDataset tar shards, plus an index, stats and the final manifest.

The shard task (:func:`write_shard`) is the unit of work, retry and resume, as in img2dataset: planning
decides in the driver which sample goes to which shard (sorted by key, so the same input always gives
the same plan), each task writes one tar to a temporary name, renames it into place and only then writes
its done-marker (``{shard}.stats.json``). A rerun skips shards whose marker and tar agree, so a tar that
was cut short by a crash is never taken as done. The tar bytes depend only on the input (fixed mtime,
owner and mode), so any distributor - the process pool or Spark - produces the same shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from valor_data.atomic import TMP_SUFFIX, LockBusy, exclusive_lock
from valor_data.clip import MANIFEST_SCHEMA, OK, Status
from valor_data.digest import sha256_file
from valor_data.engines.distributor import Distributor
from valor_data.engines.storage import Store, resolve

MEMBERS = ("flac", "json", "mp4", "txt")  # TarWriter writes a sample's members in sorted order
TAR_MTIME = 946684800  # 2000-01-01T00:00:00Z: fixed so that the same input gives the same tar bytes
TAR_USER = "valor"
TAR_MODE = 0o444
CONFIG_NAME = "shard_config.json"
INDEX_NAME = "index.parquet"
STATS_NAME = "stats.json"
MANIFEST_NAME = "manifest.parquet"
MARKER_SUFFIX = ".stats.json"
LOCK_NAME = ".shard.lock"
DEFAULT_SHARD_SIZE = 1000
_HEADER_BYTES = 512
_SAMPLE_OVERHEAD = len(MEMBERS) * _HEADER_BYTES + 2048  # headers + a typical json/txt, for --shard-bytes

INDEX_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("clip_id", pa.string()),
        ("shard", pa.string()),
        ("member", pa.string()),  # extension: flac, json, mp4, txt
        ("name", pa.string()),  # member name in the tar: {key}.{member}
        ("offset", pa.int64()),  # byte offset of the member's tar header
        ("offset_data", pa.int64()),  # byte offset of the member's data
        ("size", pa.int64()),
    ]
)


class ShardError(Exception):
    """Bad input or a shard directory that cannot be (re)used; the message is one line for the user."""


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
    tasks: list[ShardTask]
    missing_media: dict[str, str]  # key -> message, ok rows whose media files are gone
    captions_unmatched: int = 0
    caption_bad_rows: list[str] = field(default_factory=list)
    digest: str = ""


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------
def read_manifest(src_dir: str | Path) -> pa.Table:
    """The fetch manifest, checked for the columns shard needs."""
    path = Path(src_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ShardError(f"{src_dir}: no {MANIFEST_NAME} here; give the output directory of `valor-data fetch`")
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any parquet failure is one user-facing line
        raise ShardError(f"{path}: cannot read it as parquet: {e}") from None
    missing = [name for name in MANIFEST_SCHEMA.names if name not in table.column_names]
    if missing:
        raise ShardError(f"{path}: not a fetch manifest, missing columns: {', '.join(missing)}")
    statuses = zip(table.column("key").to_pylist(), table.column("status").to_pylist(), strict=True)
    ok_keys = [k for k, st in statuses if st == OK]
    dup = [k for k, n in Counter(ok_keys).items() if n > 1]
    if dup:
        raise ShardError(f"{path}: {len(dup)} ok clips appear more than once (first: {dup[0]}); rerun fetch")
    return table.select(MANIFEST_SCHEMA.names).cast(MANIFEST_SCHEMA)


def select_ids(manifest: pa.Table, id_files: Sequence[str | Path]) -> tuple[pa.Table, int]:
    """Keep the manifest rows of the clips listed in ``id_files`` (clip ids or sample keys, one per line,
    e.g. the ``{split}_ids.txt`` of `valor-data split`), so one fetch can be sharded split by split.

    Returns the selected rows (still one per listed clip that was fetched) and how many listed clips the
    manifest lacks. No files: the manifest unchanged.
    """
    from valor_data.clip import ClipRef, InvalidClip

    if not id_files:
        return manifest, 0
    wanted: set[str] = set()
    for path in id_files:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ShardError(f"--ids {path}: cannot read it: {e}") from None
        for number, text in enumerate(lines, 1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                clip = ClipRef.from_key(text) if "." not in text else ClipRef.from_clip_id(text)
            except InvalidClip as e:
                raise ShardError(f"--ids {path}:{number}: {e}") from None
            wanted.add(clip.key)
    selected = manifest.filter(pc.is_in(manifest.column("key"), value_set=pa.array(sorted(wanted), pa.string())))
    return selected, len(wanted) - selected.num_rows


def read_caption_files(paths: Sequence[str | Path]) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Captions from VALOR JSON files: key -> captions (files in order, duplicates dropped), bad rows."""
    from valor_data.inputs import BadRow, read_clips

    captions: dict[str, tuple[str, ...]] = {}
    bad: list[str] = []
    for path in paths:
        try:
            items = list(read_clips(path, "valor"))
        except (OSError, ValueError) as e:
            raise ShardError(f"--captions {path}: {e}") from None
        for item in items:
            if isinstance(item, BadRow):
                bad.append(f"{item.where}: {item.message}")
                continue
            merged = captions.get(item.key, ()) + clean_captions(item.captions)
            captions[item.key] = tuple(dict.fromkeys(merged))
    return captions, bad


def clean_captions(captions: Iterable[str] | None) -> tuple[str, ...]:
    """Stripped, non-empty captions: a whitespace-only caption is no caption."""
    return tuple(c.strip() for c in (captions or ()) if isinstance(c, str) and c.strip())


# --------------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------------
def plan_shards(
    src_dir: str | Path,
    out_dir: str | Path,
    manifest: pa.Table,
    options: ShardOptions,
    captions: dict[str, tuple[str, ...]] | None = None,
) -> Plan:
    """Decide the shards: ok rows sorted by key, cut by sample count or by estimated tar bytes."""
    from valor_data.ontology import load_ontology

    ontology = load_ontology()
    src = Path(src_dir).resolve()
    captions = captions or {}
    samples: list[tuple[SampleSpec, int]] = []
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
        samples.append((spec, size))
    groups = _cut(samples, options)
    tasks = []
    for i, group in enumerate(groups):
        name = f"{options.prefix}-{i:06d}.tar"
        specs = tuple(group)
        digest = _sha256_json([name, [s.as_tuple() for s in specs]])
        tasks.append(ShardTask(i, name, str(src), resolve(out_dir), specs, digest))
    plan_digest = _sha256_json([t.digest for t in tasks])
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


def _cut(samples: list[tuple[SampleSpec, int]], options: ShardOptions) -> list[list[SampleSpec]]:
    if options.shard_size is not None:
        n = options.shard_size
        return [[s for s, _ in samples[i : i + n]] for i in range(0, len(samples), n)]
    groups: list[list[SampleSpec]] = []
    current: list[SampleSpec] = []
    current_bytes = 0
    for spec, size in samples:
        est = size + _SAMPLE_OVERHEAD
        if current and current_bytes + est > options.shard_bytes:
            groups.append(current)
            current, current_bytes = [], 0
        current.append(spec)
        current_bytes += est
    if current:
        groups.append(current)
    return groups


def _sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# The shard task
# --------------------------------------------------------------------------------------------------
def sample_json(spec: SampleSpec, mp4_sha256: str, flac_sha256: str) -> dict:
    """The ``{key}.json`` member: who the clip is, its labels and captions, probe facts, media hashes."""
    try:
        probe = json.loads(spec.probe)
    except json.JSONDecodeError:
        probe = {"raw": spec.probe}
    return {
        "clip_id": spec.clip_id,
        "key": spec.key,
        "ytid": spec.ytid,
        "start": spec.start,
        "end": spec.end,
        "labels": [{"mid": mid, "name": name} for mid, name in spec.labels],
        "captions": list(spec.captions),
        "probe": probe,
        "sha256": {"mp4": mp4_sha256, "flac": flac_sha256},
    }


def sample_duration(probe: dict, start: float, end: float) -> float:
    """The duration of the normalised video (fetch's ``probe.output.duration``), else that of the probed
    segment (``probe.duration``), else the segment length asked for."""
    probe = probe if isinstance(probe, dict) else {}
    output = probe.get("output") if isinstance(probe.get("output"), dict) else {}
    for value in (output.get("duration"), probe.get("duration")):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return end - start


def marker_name(name: str) -> str:
    return name[: -len(".tar")] + MARKER_SUFFIX


@dataclass(frozen=True)
class ShardResult:
    """What a shard task hands back: its done-marker, or the error that stopped it."""

    shard: str
    marker: dict | None = None
    error: str | None = None


def write_shard(task: ShardTask) -> ShardResult:
    """Write one shard and its done-marker.

    Never raises, so that one bad shard does not stop a process pool; the caller retries or reports.
    """
    try:
        return ShardResult(task.name, marker=_write_shard(task))
    except Exception as e:  # noqa: BLE001 - reported per shard, rerun retries
        return ShardResult(task.name, error=f"{type(e).__name__}: {e}")


@cache
def tar_writer_class() -> type:
    """``webdataset.TarWriter``, imported without torch when torch is not loaded yet.

    ``import webdataset`` imports torch when it is installed (2-3 s per process, in every shard worker), yet
    TarWriter never uses it for bytes. So torch is hidden while a private copy of webdataset is imported,
    and that copy is dropped from ``sys.modules`` afterwards: a later ``import webdataset`` elsewhere in the
    process gets the ordinary, torch-backed package.
    """
    if "webdataset" in sys.modules or "torch" in sys.modules:
        import webdataset

        return webdataset.TarWriter
    sys.modules["torch"] = None  # makes `import torch` raise ModuleNotFoundError: webdataset's fallback
    try:
        import webdataset

        return webdataset.TarWriter
    finally:
        del sys.modules["torch"]
        for name in [n for n in sys.modules if n == "webdataset" or n.startswith("webdataset.")]:
            del sys.modules[name]


def _write_tar(task: ShardTask, tmp: Path) -> Counter:
    """Write the task's samples to ``tmp`` with TarWriter (fixed owner, mode and mtime)."""
    src = Path(task.src_dir)
    stats: Counter = Counter()
    with open(tmp, "wb") as f:
        writer = tar_writer_class()(f, user=TAR_USER, group=TAR_USER, mode=TAR_MODE, mtime=TAR_MTIME, encoder=False)
        for spec in task.samples:
            mp4 = (src / spec.video_path).read_bytes()
            flac = (src / spec.audio_path).read_bytes()
            meta = sample_json(spec, hashlib.sha256(mp4).hexdigest(), hashlib.sha256(flac).hexdigest())
            text = spec.captions[0] if spec.captions else ""
            writer.write(
                {
                    "__key__": spec.key,
                    "mp4": mp4,
                    "flac": flac,
                    "json": json.dumps(meta, ensure_ascii=False).encode("utf-8"),
                    "txt": text.encode("utf-8"),
                }
            )
            stats["video_bytes"] += len(mp4)
            stats["audio_bytes"] += len(flac)
            stats["with_captions" if spec.captions else "without_captions"] += 1
            stats["duration_s"] += sample_duration(meta["probe"], spec.start, spec.end)
        writer.close()
    return stats


def _write_shard(task: ShardTask) -> dict:
    """The tar is written on local disk (in SHARDDIR itself when it is local), committed whole (a rename,
    or an upload for an fsspec URL), and only then is its marker written. A failed attempt leaves nothing
    behind (a SIGKILL can: reruns clean up)."""
    store = Store(task.out_dir)
    with store.staged(task.name) as tmp:
        stats = _write_tar(task, tmp)
        members, tar_sha256 = tar_members(tmp)
        tar_bytes = tmp.stat().st_size
    marker = {
        "shard": task.name,
        "digest": task.digest,
        "samples": len(task.samples),
        "keys": [s.key for s in task.samples],
        "tar_bytes": tar_bytes,
        "tar_sha256": tar_sha256,
        "video_bytes": stats["video_bytes"],
        "audio_bytes": stats["audio_bytes"],
        "with_captions": stats["with_captions"],
        "without_captions": stats["without_captions"],
        "duration_s": round(stats["duration_s"], 6),
        "members": members,
    }
    store.write_text(marker_name(task.name), json.dumps(marker, indent=1))
    return marker


def tar_members(path: str | Path) -> tuple[list[list], str]:
    """Members of a written tar from its own headers: ``[name, offset, offset_data, size]``, and its sha256."""
    members = []
    with tarfile.open(path, "r:") as tar:
        for info in tar:
            members.append([info.name, info.offset, info.offset_data, info.size])
    return members, sha256_file(path)


def read_done_marker(task: ShardTask) -> dict | None:
    """The task's marker if the shard is complete: marker of this very plan, and the tar at its size."""
    store = Store(task.out_dir)
    try:
        marker = json.loads(store.read_text(marker_name(task.name)))
        size = store.size(task.name)
    except (OSError, ValueError):
        return None
    if marker.get("digest") != task.digest or marker.get("tar_bytes") != size:
        return None
    return marker


# --------------------------------------------------------------------------------------------------
# The run: config check, tasks, then index / stats / manifest
# --------------------------------------------------------------------------------------------------
def check_config(out: Store, config: dict) -> None:
    """Record the options on the first run; refuse a rerun whose options or input differ."""
    out_dir, path = out.location, f"{out.location}/{CONFIG_NAME}"
    names = out.list()
    if CONFIG_NAME not in names:
        leftovers = [n for n in names if not n.endswith(TMP_SUFFIX) and n != LOCK_NAME]
        if leftovers:
            raise ShardError(
                f"--out {out_dir}: not empty and not a shard directory (no {CONFIG_NAME}); choose a new one"
            )
        out.write_text(CONFIG_NAME, json.dumps(config, indent=1))
        return
    try:
        old = json.loads(out.read_text(CONFIG_NAME))
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: unreadable ({e}); remove the directory or choose a new --out") from None
    changed = [
        f"--{k.replace('_', '-')} {config[k]} (was {old.get(k)})"
        for k in ("prefix", "shard_size", "shard_bytes")
        if old.get(k) != config[k]
    ]
    if changed:
        raise ShardError(
            f"--out {out_dir} was written with other options: {', '.join(changed)}; "
            "rerun with the same options or choose a new --out"
        )
    if old.get("captions_sha256") != config["captions_sha256"]:
        raise ShardError(f"--out {out_dir} was written with other captions; use the same --captions or a new --out")
    if old.get("plan_sha256") != config["plan_sha256"]:
        raise ShardError(
            f"--out {out_dir} was written from a different input (the fetch manifest changed); choose a new --out"
        )


def run_shard(
    src_dir: str | Path,
    out_dir: str | Path,
    options: ShardOptions,
    caption_files: Sequence[str | Path] = (),
    distributor: str | Distributor = "multiprocessing",
    workers: int = 2,
    progress: Callable[[int], object] | None = None,
    on_plan: Callable[[int], object] | None = None,
    id_files: Sequence[str | Path] = (),
) -> dict:
    """Shard a fetch directory (only the clips listed in ``id_files`` when given); returns the summary.
    Resumes a killed run with the same options.

    ``out_dir`` is a local path or an fsspec URL (valor_data.engines.storage); ``distributor`` a name or an instance
    (e.g. ``SparkDistributor(master=...)``). ``on_plan(n)`` is told how many shards are left to write,
    ``progress(1)`` is called per shard written.
    """
    t0 = time.monotonic()
    tar_writer_class()  # imported once here, inherited by forked workers
    src, store = Path(src_dir), Store(out_dir)
    out = Path(out_dir) if store.local else store.location
    manifest, ids_unmatched = select_ids(read_manifest(src), id_files)
    captions, caption_bad = read_caption_files(caption_files)
    plan = plan_shards(src, out, manifest, options, captions)
    plan.caption_bad_rows = caption_bad
    store.makedirs()
    # No locks on remote stores: tasks are idempotent anyway.
    with _run_lock(out) if store.local else contextlib.nullcontext():
        check_config(store, run_config(src, options, caption_files, captions, plan))
        markers, skipped, failures = run_tasks(plan, distributor, workers, progress, on_plan)
        summary = {
            "out": str(out),
            "shards": len(plan.tasks),
            "shards_written": len(markers) - skipped,
            "shards_skipped": skipped,
            "shards_failed": [f"{name}: {msg}" for name, msg in sorted(failures.items())],
            "missing_media": [f"{k}: {msg}" for k, msg in sorted(plan.missing_media.items())],
            "captions_unmatched": plan.captions_unmatched,
            "caption_bad_rows": plan.caption_bad_rows,
            "ids_unmatched": ids_unmatched,
        }
        if not failures:
            stats = write_outputs(store, manifest, plan, [markers[t.name] for t in plan.tasks])
            for key in ("samples", "with_captions", "without_captions", "tar_bytes", "duration_s_total"):
                summary[key] = stats[key]
            summary["status"] = stats["manifest"]["status"]
            summary["manifest_rows"] = stats["manifest"]["rows"]
            for leftover in store.list():  # partial files of killed runs; all is in place now
                if leftover.endswith(TMP_SUFFIX):
                    store.remove(leftover)
    summary["seconds"] = round(time.monotonic() - t0, 3)
    return summary


@contextlib.contextmanager
def _run_lock(out: Path) -> Iterator[None]:
    """Hold SHARDDIR's lock for the run: a second run (or the rerun of a killed one whose orphaned
    workers still write) is refused instead of racing them."""
    try:
        with exclusive_lock(out / LOCK_NAME, wait_s=0):
            yield
    except LockBusy:
        raise ShardError(f"--out {out} is in use by another `valor-data shard` run; wait for it to end") from None


def run_config(
    src: Path, options: ShardOptions, caption_files: Sequence[str | Path], captions: dict, plan: Plan
) -> dict:
    """What shard_config.json records: the options and digests of the captions and of the plan."""
    return {
        "format": 1,
        "prefix": options.prefix,
        "shard_size": options.shard_size,
        "shard_bytes": options.shard_bytes,
        "captions": [str(p) for p in caption_files],
        "captions_sha256": _sha256_json(sorted(captions.items())),
        "plan_sha256": plan.digest,
        "source": str(src.resolve()),
        "shards": len(plan.tasks),
        "samples": sum(len(t.samples) for t in plan.tasks),
    }


def run_tasks(
    plan: Plan,
    distributor: str | Distributor,
    workers: int,
    progress: Callable[[int], object] | None = None,
    on_plan: Callable[[int], object] | None = None,
) -> tuple[dict[str, dict], int, dict[str, str]]:
    """Run the shard tasks not done yet (one retry in the same run; a rerun of the command retries again).

    Returns the done-markers by shard name, how many were already done, and the failures by shard name.
    """
    from valor_data.engines.distributor import get_distributor

    runner = get_distributor(distributor, workers)
    markers: dict[str, dict] = {}
    todo = []
    for task in plan.tasks:
        marker = read_done_marker(task)
        if marker is None:
            todo.append(task)
        else:
            markers[task.name] = marker
    skipped = len(markers)
    if on_plan:
        on_plan(len(todo))
    failures: dict[str, str] = {}
    for _attempt in range(2):
        by_name = {t.name: t for t in todo}
        retry = []
        for result in runner.map_unordered(write_shard, todo):
            if result.marker is None:
                failures[result.shard] = result.error
                retry.append(by_name[result.shard])
                continue
            failures.pop(result.shard, None)
            markers[result.shard] = result.marker
            if progress:
                progress(1)
        todo = retry
        if not todo:
            break
    return markers, skipped, failures


def write_outputs(out: Store | Path, manifest: pa.Table, plan: Plan, markers: list[dict]) -> dict:
    """index.parquet, manifest.parquet (shard column filled) and stats.json, each written atomically.

    Built column by column: at VALOR-1M scale a dict per index row would cost gigabytes.
    """
    out = out if isinstance(out, Store) else Store(out)
    clip_of = {s.key: s.clip_id for t in plan.tasks for s in t.samples}
    shard_of: dict[str, str] = {}
    cols: dict[str, list] = {name: [] for name in INDEX_SCHEMA.names}
    for marker in markers:
        for key in marker["keys"]:
            shard_of[key] = marker["shard"]
        for name, offset, offset_data, size in marker["members"]:
            key, member = name.split(".", 1)
            for col, value in zip(
                INDEX_SCHEMA.names,
                (key, clip_of.get(key, ""), marker["shard"], member, name, offset, offset_data, size),
                strict=True,
            ):
                cols[col].append(value)
    _write_parquet(pa.table(cols, schema=INDEX_SCHEMA), out, INDEX_NAME)

    keys = manifest.column("key").to_pylist()
    status = manifest.column("status").to_pylist()
    message = manifest.column("message").to_pylist()
    for i, key in enumerate(keys):
        if status[i] == OK and key in plan.missing_media:
            status[i], message[i] = Status.ERROR, f"shard: {plan.missing_media[key]}"
    updates = {
        "status": pa.array(status, pa.string()),
        "message": pa.array(message, pa.string()),
        "shard": pa.array([shard_of.get(k) for k in keys], pa.string()),
    }
    table = manifest
    for name, column in updates.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    _write_parquet(table, out, MANIFEST_NAME)

    samples = sum(m["samples"] for m in markers)
    duration = sum(m["duration_s"] for m in markers)
    counts = Counter(status)
    stats = {
        "samples": samples,
        "shards": len(markers),
        "with_captions": sum(m["with_captions"] for m in markers),
        "without_captions": sum(m["without_captions"] for m in markers),
        "tar_bytes": sum(m["tar_bytes"] for m in markers),
        "video_bytes": sum(m["video_bytes"] for m in markers),
        "audio_bytes": sum(m["audio_bytes"] for m in markers),
        "duration_s_total": round(duration, 3),
        "duration_s_mean": round(duration / samples, 3) if samples else 0.0,
        "manifest": {"rows": len(keys), "status": dict(sorted(counts.items()))},
        "shard_list": [
            {"name": m["shard"], "samples": m["samples"], "bytes": m["tar_bytes"], "sha256": m["tar_sha256"]}
            for m in markers
        ],
    }
    out.write_text(STATS_NAME, json.dumps(stats, indent=1))
    return stats


def _write_parquet(table: pa.Table, out: Store, name: str) -> None:
    with out.staged(name) as tmp:
        pq.write_table(table, tmp)
