"""Check a shard directory end to end: tars, media hashes, decodability, index and manifest.

Every problem is one line that names the shard and/or sample key and what is wrong, so a user (or CI)
can act on it. Each tar is checked by an independent, picklable task (:func:`check_shard`), run through
the same distributors as ``shard``; the cross-checks (index, manifest, stats) run in the driver.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from valor_data.atomic import TMP_SUFFIX
from valor_data.clip import OK, InvalidClip, key_to_clip_id
from valor_data.digest import sha256_file
from valor_data.engines.distributor import Distributor, get_distributor
from valor_data.shards.layout import (
    CONFIG_NAME,
    INDEX_NAME,
    MANIFEST_NAME,
    MEMBERS,
    STATS_NAME,
)

_BLOCK = 512


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ShardCheck:
    """One tar to check, with what stats.json recorded about it (None when unknown)."""

    path: str
    expected_bytes: int | None = None
    expected_sha256: str | None = None


def check_shard(check: ShardCheck) -> dict:
    """Read one tar fully: completeness, members per sample, media sha256, decode one sample.

    Returns ``{"name", "problems", "members": [[name, offset, offset_data, size]], "keys", "captioned",
    "decoded"}``; never raises (an unexpected failure becomes a problem line).
    """
    name = Path(check.path).name
    result = {
        "name": name, "problems": [], "members": [], "keys": [], "captioned": 0, "decoded": False, "complete": True
    }  # fmt: skip
    try:
        _check_shard(check, name, result)
    except Exception as e:  # noqa: BLE001 - one line per shard, never a traceback
        result["complete"] = False
        result["problems"].append(f"{name}: unexpected error while checking: {type(e).__name__}: {e}")
    return result


def _check_shard(check: ShardCheck, name: str, result: dict) -> None:
    """Streams the tar: one sample's members in memory at a time, whatever the shard size."""
    problems: list[str] = result["problems"]
    path = Path(check.path)
    size = path.stat().st_size
    if check.expected_bytes is not None and size != check.expected_bytes:
        problems.append(f"{name}: {size} bytes but stats.json records {check.expected_bytes} (truncated or overwritten)")
    elif check.expected_sha256 is not None and sha256_file(path) != check.expected_sha256:
        problems.append(f"{name}: sha256 differs from the one stats.json records (bytes changed)")

    state = {"decode_tried": False, "seen": set()}
    current: tuple[str, dict[str, bytes]] | None = None
    end = 0
    with open(path, "rb") as f:
        try:
            with tarfile.open(fileobj=f, mode="r:") as tar:
                for info in tar:
                    if not info.isfile():
                        problems.append(f"{name}: member {info.name!r} is not a regular file")
                        continue
                    payload = tar.extractfile(info).read()
                    if len(payload) != info.size:
                        raise tarfile.ReadError(f"member {info.name} cut short")
                    result["members"].append([info.name, info.offset, info.offset_data, info.size])
                    end = info.offset_data + -(-info.size // _BLOCK) * _BLOCK
                    key, _, ext = info.name.partition(".")
                    if current is None or current[0] != key:
                        if current is not None:
                            _check_sample(name, *current, result, state)
                        if key in state["seen"]:
                            problems.append(f"{name}/{key}: members not contiguous in the tar (webdataset splits it)")
                        state["seen"].add(key)
                        current = (key, {})
                    if ext in current[1]:
                        problems.append(f"{name}/{key}: duplicate member {info.name}")
                    current[1][ext] = payload
        except (tarfile.TarError, EOFError, OSError) as e:
            problems.append(f"{name}: unreadable tar after {len(result['members'])} members: {e}")
            result["complete"] = False
            if current is not None and set(current[1]) == set(MEMBERS):  # a whole sample before the damage
                _check_sample(name, *current, result, state)
            return
        if current is not None:
            _check_sample(name, *current, result, state)
        if not result["members"]:
            problems.append(f"{name}: no members")
            return
        f.seek(end)
        trailer = f.read(2 * _BLOCK)
        if len(trailer) < 2 * _BLOCK or any(trailer):
            problems.append(f"{name}: no end-of-archive marker after the last member (truncated)")


def _check_sample(name: str, key: str, members: dict[str, bytes], result: dict, state: dict) -> None:
    """Per sample: the four members, json and hashes; the first good sample of the shard is decoded."""
    problems: list[str] = result["problems"]
    result["keys"].append(key)
    got = set(members)
    if got != set(MEMBERS):
        missing = ", ".join(sorted(set(MEMBERS) - got)) or "-"
        extra = ", ".join(sorted(got - set(MEMBERS))) or "-"
        problems.append(f"{name}/{key}: members missing: {missing}; unexpected: {extra}")
    if members.get("txt", b"").strip():
        result["captioned"] += 1
    meta = _check_json(name, key, members, problems)
    if meta is not None and not state["decode_tried"] and "mp4" in members and "flac" in members:
        result["decoded"] = _check_decode(name, key, members["mp4"], members["flac"], problems)
        state["decode_tried"] = True


def _check_json(name: str, key: str, members: dict[str, bytes], problems: list[str]) -> dict | None:
    if "json" not in members:
        return None
    try:
        meta = json.loads(members["json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.append(f"{name}/{key}: {key}.json is not valid JSON: {e}")
        return None
    if not isinstance(meta, dict):
        problems.append(f"{name}/{key}: {key}.json is not an object")
        return None
    if meta.get("key") != key:
        problems.append(f"{name}/{key}: {key}.json names key {meta.get('key')!r}")
    hashes = meta.get("sha256") if isinstance(meta.get("sha256"), dict) else {}
    for ext in ("mp4", "flac"):
        if ext in members and hashlib.sha256(members[ext]).hexdigest() != hashes.get(ext):
            problems.append(f"{name}/{key}: {key}.{ext} sha256 does not match the one in {key}.json")
    return meta


def _check_decode(name: str, key: str, mp4: bytes, flac: bytes, problems: list[str]) -> bool:
    import av  # optional extra (data): PyAV, needed only to decode one sample per shard

    ok = True
    try:
        with av.open(io.BytesIO(mp4)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            if next(container.decode(video=0), None) is None:
                raise ValueError("no frame decoded")
    except Exception as e:  # noqa: BLE001 - PyAV raises many kinds
        problems.append(f"{name}/{key}: {key}.mp4 does not decode: {e}")
        ok = False
    try:
        with av.open(io.BytesIO(flac)) as container:
            if not container.streams.audio:
                raise ValueError("no audio stream")
            samples = sum(frame.samples for frame in container.decode(audio=0))
            if samples == 0:
                raise ValueError("no audio samples decoded")
    except Exception as e:  # noqa: BLE001
        problems.append(f"{name}/{key}: {key}.flac does not decode: {e}")
        ok = False
    return ok


# --------------------------------------------------------------------------------------------------
# The whole directory
# --------------------------------------------------------------------------------------------------
def _load_json(path: Path, problems: list[str]) -> dict | None:
    if not path.is_file():
        problems.append(f"{path.name}: missing (the shard run did not finish? rerun `valor-data shard`)")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        problems.append(f"{path.name}: unreadable: {e}")
        return None


def _load_parquet(path: Path, problems: list[str], columns: list[str]) -> list[dict] | None:
    if not path.is_file():
        problems.append(f"{path.name}: missing (the shard run did not finish? rerun `valor-data shard`)")
        return None
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001
        problems.append(f"{path.name}: unreadable parquet: {e}")
        return None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        problems.append(f"{path.name}: missing columns {', '.join(missing)}")
        return None
    return table.select(columns).to_pylist()


def verify_dir(
    shard_dir: str | Path,
    distributor: str | Distributor = "multiprocessing",
    workers: int = 2,
    progress: Callable[[int], object] | None = None,
    on_plan: Callable[[int], object] | None = None,
) -> VerifyReport:
    """Run every check on a shard directory; the report lists problems (empty when all is well)."""
    root = Path(shard_dir)
    report = VerifyReport()
    problems = report.problems
    if not root.is_dir():
        problems.append(f"{root}: not a directory")
        return report
    if not (root / CONFIG_NAME).is_file():
        problems.append(f"{CONFIG_NAME}: missing; is {root} the --out of `valor-data shard`?")
    stats = _load_json(root / STATS_NAME, problems)
    index = _load_parquet(root / INDEX_NAME, problems, ["key", "clip_id", "shard", "name", "offset_data", "size"])
    manifest = _load_parquet(root / MANIFEST_NAME, problems, ["key", "status", "shard"])

    listed = {s["name"]: s for s in (stats or {}).get("shard_list", [])}
    present = sorted(p.name for p in root.glob("*.tar"))
    for leftover in sorted(p.name for p in root.glob("*" + TMP_SUFFIX)):
        problems.append(f"{leftover}: partial file left by an interrupted run; rerun `valor-data shard`")
    for name in sorted(set(listed) - set(present)):
        problems.append(f"{name}: missing (stats.json lists it with {listed[name]['samples']} samples)")
    if stats is not None:
        for name in sorted(set(present) - set(listed)):
            problems.append(f"{name}: not listed in stats.json (left from another run?)")

    checks = [
        ShardCheck(str(root / name), listed.get(name, {}).get("bytes"), listed.get(name, {}).get("sha256"))
        for name in present
    ]
    if on_plan:
        on_plan(len(checks))
    results = {}
    for res in get_distributor(distributor, workers).map_unordered(check_shard, checks):
        results[res["name"]] = res
        if progress:
            progress(1)
    for name in present:
        problems.extend(results[name]["problems"])

    if index is not None:
        problems.extend(_check_index(index, results))
    shards_of: dict[str, list[str]] = defaultdict(list)
    for name in present:
        for key in results[name]["keys"]:
            shards_of[key].append(name)
    if manifest is not None:
        problems.extend(_check_manifest(manifest, shards_of))
    samples = sum(len(r["keys"]) for r in results.values())
    captioned = sum(r["captioned"] for r in results.values())
    if stats is not None:
        problems.extend(_check_stats(stats, manifest, len(present), samples, captioned))
    report.summary = {
        "dir": str(root),
        "shards": len(present),
        "samples": samples,
        "with_captions": captioned,
        "bytes": sum((root / n).stat().st_size for n in present),
        "decoded_shards": sum(1 for r in results.values() if r["decoded"]),
        "problems": len(problems),
    }
    return report


def _check_index(index: list[dict], results: dict[str, dict]) -> list[str]:
    problems = []
    in_tars = {(name, m[0]): m for name, r in results.items() for m in r["members"]}
    seen = set()
    for row in index:
        where = (row["shard"], row["name"])
        if where in seen:
            problems.append(f"index.parquet: {row['shard']}/{row['name']} listed twice")
            continue
        seen.add(where)
        if row["shard"] not in results:
            problems.append(f"index.parquet: {row['name']} points to {row['shard']}, which is not here")
            continue
        member = in_tars.get(where)
        if member is None:
            if results[row["shard"]]["complete"]:  # else the unreadable tar is already reported
                problems.append(f"index.parquet: {row['shard']}/{row['name']} is not in the tar")
            continue
        if (member[2], member[3]) != (row["offset_data"], row["size"]):
            problems.append(
                f"index.parquet: {row['shard']}/{row['name']}: offset_data {row['offset_data']} size {row['size']}, "
                f"the tar has offset_data {member[2]} size {member[3]}"
            )
        try:
            if key_to_clip_id(row["key"]) != row["clip_id"] or not row["name"].startswith(row["key"] + "."):
                problems.append(f"index.parquet: {row['name']}: key {row['key']} / clip_id {row['clip_id']} disagree")
        except InvalidClip as e:
            problems.append(f"index.parquet: {row['name']}: {e}")
    for shard, name in sorted(set(in_tars) - seen):
        if shard in results:
            problems.append(f"index.parquet: {shard}/{name} is in the tar but not in the index")
    return problems


def _check_manifest(manifest: list[dict], shards_of: dict[str, list[str]]) -> list[str]:
    problems = []
    counts = Counter(r["key"] for r in manifest if r["status"] == OK)
    for key, n in sorted(counts.items()):
        if n > 1:
            problems.append(f"manifest.parquet: {key} has {n} ok rows")
    ok_keys = set()
    for row in manifest:
        key = row["key"]
        if row["status"] != OK:
            if key in shards_of:
                problems.append(f"{shards_of[key][0]}/{key}: in a shard but its manifest status is {row['status']}")
            continue
        ok_keys.add(key)
        found = shards_of.get(key, [])
        if not found:
            problems.append(f"{key}: status ok in manifest.parquet but in no shard (manifest says {row['shard']})")
        elif len(found) > 1:
            problems.append(f"{key}: in {len(found)} shards: {', '.join(found)}")
        elif row["shard"] != found[0]:
            problems.append(f"{key}: manifest.parquet says shard {row['shard']}, found in {found[0]}")
    listed = {r["key"] for r in manifest}
    for key, found in sorted(shards_of.items()):
        if key not in listed:
            problems.append(f"{found[0]}/{key}: not in manifest.parquet")
    return problems


def _check_stats(stats: dict, manifest: list[dict] | None, shards: int, samples: int, captioned: int) -> list[str]:
    problems = []
    expect = {
        "shards": shards,
        "samples": samples,
        "with_captions": captioned,
        "without_captions": samples - captioned,
    }
    if manifest is not None:
        expect_status = dict(sorted(Counter(r["status"] for r in manifest).items()))
        if stats.get("manifest", {}).get("status") != expect_status:
            problems.append(
                f"stats.json: manifest status counts {stats.get('manifest', {}).get('status')} "
                f"but manifest.parquet has {expect_status}"
            )
    for k, v in expect.items():
        if stats.get(k) != v:
            problems.append(f"stats.json: {k} = {stats.get(k)} but the shards hold {v}")
    return problems
