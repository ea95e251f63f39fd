"""The bytes of one shard: each sample's four members written with webdataset's TarWriter.

The tar depends only on its samples (fixed mtime, owner and mode; members in sorted order), so any
distributor - the process pool or Spark - and any rerun produces the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from collections import Counter
from functools import cache
from pathlib import Path

from valor_data.digest import sha256_file
from valor_data.shards.plan import SampleSpec, ShardTask

TAR_MTIME = 946684800  # 2000-01-01T00:00:00Z: fixed so that the same input gives the same tar bytes
TAR_USER = "valor"
TAR_MODE = 0o444


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


@cache
def tar_writer_class() -> type:
    """``webdataset.TarWriter``, imported without torch when torch is not loaded yet.

    ``import webdataset`` imports torch when it is installed (2-3 s per process, in every shard worker), yet
    TarWriter never uses it for bytes. So torch is hidden while a private copy of webdataset is imported,
    and that copy is dropped from ``sys.modules`` afterwards: a later ``import webdataset`` elsewhere in the
    process gets the ordinary, torch-backed package.
    """
    if "webdataset" in sys.modules or "torch" in sys.modules:
        import webdataset  # optional extra (data); imported here to control torch, see above

        return webdataset.TarWriter
    sys.modules["torch"] = None  # makes `import torch` raise ModuleNotFoundError: webdataset's fallback
    try:
        import webdataset  # optional extra (data); imported with torch hidden, see above

        return webdataset.TarWriter
    finally:
        del sys.modules["torch"]
        for name in [n for n in sys.modules if n == "webdataset" or n.startswith("webdataset.")]:
            del sys.modules[name]


def write_tar(task: ShardTask, tmp: Path) -> Counter:
    """Write the task's samples to ``tmp`` with TarWriter (fixed owner, mode and mtime); returns byte,
    caption and duration counts for the done-marker."""
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


def tar_members(path: str | Path) -> tuple[list[list], str]:
    """Members of a written tar from its own headers: ``[name, offset, offset_data, size]``, and its sha256."""
    members = []
    with tarfile.open(path, "r:") as tar:
        for info in tar:
            members.append([info.name, info.offset, info.offset_data, info.size])
    return members, sha256_file(path)
