"""Clips into a campaign: the ok clips of a shard directory (media are members of its tars, found by the
byte offsets of ``index.parquet``) or of a fetch directory (media are files), with their AudioSet labels
as display names from the shipped ontology, a stage, a split and, optionally, model drafts.

Built for VALOR-1M: the source is read column-wise with pyarrow, rows go in batches (PostgreSQL: ``COPY``),
each batch one transaction with its audit row. A re-import skips the clip ids the campaign has, so an
interrupted import is finished by running it again. Clips that cannot be served (no tar, a member
missing) are left out with their reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, insert, select

from valor_data.annotate.drafts import load_drafts
from valor_data.annotate.schema import clips
from valor_data.annotate.state import Campaign, record
from valor_data.annotate.states import STAGES, ClipState
from valor_data.clip import OK
from valor_data.ontology import load_ontology
from valor_data.progress import progress_bar
from valor_data.shards.layout import INDEX_NAME, MANIFEST_NAME
from valor_data.web.errors import InputError

BATCH = 50_000
KEPT_PROBLEMS = 100  # bad rows listed in the summary and the audit row; all are counted
COLUMNS = ("clip_id", "key", "stage", "gold", "split", "labels", "media", "draft", "draft_source", "state", "round",
           "updated_at")


@dataclass(frozen=True)
class ImportSummary:
    source: str
    kind: str  # "shards" | "fetch"
    stage: str
    imported: int
    existing: int  # already in the campaign: skipped
    not_ok: int  # rows of failed downloads in the manifest: never clips
    bad: int  # ok rows that cannot be served
    problems: list[tuple[str, str]] = field(default_factory=list)  # (clip id, why), the first KEPT_PROBLEMS
    drafts: int = 0  # imported clips that got a draft
    seconds: float = 0.0


@dataclass
class _Rows:
    """The importable clips of a source, column-wise, and the rows left out."""

    clip_id: list[str]
    key: list[str]
    labels: list[list[str] | None]
    media: list[str]
    not_ok: int
    problems: list[tuple[str, str]]


def _read(path: Path, columns: list[str]) -> pa.Table:
    try:
        table = pq.read_table(path, columns=columns)
    except Exception as e:  # noqa: BLE001 - any parquet failure is one line for the user
        raise InputError(f"{path}: cannot read it as parquet ({str(e).splitlines()[0]})") from None
    return table


def _manifest(source: Path, columns: list[str]) -> tuple[pa.Table, int]:
    path = source / MANIFEST_NAME
    table = _read(path, ["clip_id", "key", "labels", "status", *columns])
    ok = pc.equal(table.column("status"), OK)
    return table.filter(ok), table.num_rows - pc.sum(ok).as_py()


def _from_shards(source: Path) -> _Rows:
    manifest, not_ok = _manifest(source, [])
    index = _read(source / INDEX_NAME, ["key", "shard", "member", "offset_data", "size"])
    where: dict[str, dict[str, tuple[str, int, int]]] = {"mp4": {}, "flac": {}}
    for key, shard, member, offset, size in zip(*(index.column(n).to_pylist() for n in index.column_names),
                                                strict=True):
        if member in where:
            where[member][key] = (shard, offset, size)
    cols = {name: manifest.column(name).to_pylist() for name in manifest.column_names}
    tars: dict[str, bool] = {}
    rows = _Rows([], [], [], [], not_ok, [])
    for i, clip_id in enumerate(cols["clip_id"]):
        key = cols["key"][i]
        video, audio = where["mp4"].get(key), where["flac"].get(key)
        if video is None or audio is None:
            missing = " and ".join(m for m, found in (("mp4", video), ("flac", audio)) if found is None)
            rows.problems.append((clip_id, f"its {missing} member is not in {INDEX_NAME}"))
            continue
        if video[0] != audio[0]:
            rows.problems.append((clip_id, f"its members are in different tars ({video[0]}, {audio[0]})"))
            continue
        video_shard = video[0]
        tar = source / video_shard
        if tars.setdefault(video_shard, tar.is_file()) is False:
            rows.problems.append((clip_id, f"tar {video_shard} is not in {source}"))
            continue
        rows.clip_id.append(clip_id)
        rows.key.append(key)
        rows.labels.append(cols["labels"][i])
        rows.media.append(json.dumps({"kind": "tar", "path": str(tar), "video": list(video[1:]),
                                      "audio": list(audio[1:])}))
    return rows


def _from_fetch(source: Path) -> _Rows:
    manifest, not_ok = _manifest(source, ["video_path", "audio_path"])
    cols = {name: manifest.column(name).to_pylist() for name in manifest.column_names}
    rows = _Rows([], [], [], [], not_ok, [])
    for i, clip_id in enumerate(cols["clip_id"]):
        paths = {}
        for member in ("video", "audio"):
            rel = cols[f"{member}_path"][i]
            path = (source / rel).resolve() if rel else None
            if path is None or not path.is_file() or source.resolve() not in path.parents:
                rows.problems.append((clip_id, f"its {member} file {rel or '(none)'} is not in {source}"))
                break
            paths[member] = str(path)
        else:
            rows.clip_id.append(clip_id)
            rows.key.append(cols["key"][i])
            rows.labels.append(cols["labels"][i])
            rows.media.append(json.dumps({"kind": "files", **paths}))
    return rows


def _existing(conn: Connection) -> set[str]:
    return set(conn.execute(select(clips.c.clip_id)).scalars())


def _insert(c: Campaign, conn: Connection, batch: list[tuple]) -> None:
    if not c.db.postgres:
        conn.execute(insert(clips), [dict(zip(COLUMNS, row, strict=True)) for row in batch])
        return
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY clips ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in batch:
            copy.write_row(row)


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def import_clips(c: Campaign, source_dir: str | Path, stage: str, gold: bool | None = None, split: str | None = None,
                 drafts: str | Path | None = None, progress: bool = False) -> ImportSummary:
    """Add the ok clips of ``source_dir`` (a shard or fetch directory) to ``stage``.

    ``gold``: training clips are the gold clips (None: ``stage == "training"``); ``split`` names the
    ``desc_{split}.json`` their captions are exported to (default ``train``); ``drafts``: an AVC
    predictions file whose captions seed the clips it names.
    """
    began = time.monotonic()
    source = Path(source_dir)
    if stage not in STAGES:
        raise InputError(f"stage: {stage!r} is not one of {', '.join(STAGES)}")
    if gold is None:
        gold = stage == "training"
    if gold != (stage == "training"):
        raise InputError("gold: the training stage's clips are the gold clips, and only they are")
    split = split or "train"
    if (source / INDEX_NAME).is_file():
        kind, rows = "shards", _from_shards(source)
    elif (source / MANIFEST_NAME).is_file():
        kind, rows = "fetch", _from_fetch(source)
    else:
        raise InputError(f"{source}: neither a shard directory ({INDEX_NAME}) nor a fetch directory ({MANIFEST_NAME})")
    draft_of = load_drafts(drafts) if drafts else {}
    draft_source = Path(drafts).name if drafts else None
    ontology = load_ontology()
    with c.db.read() as conn:
        existing = _existing(conn)
    todo = [i for i, cid in enumerate(rows.clip_id) if cid not in existing]
    imported = with_draft = 0
    with progress_bar(len(todo), desc=f"import {stage}", unit="clip", disable=not progress) as bar:
        for part in _batches(todo, BATCH):
            with c.db.write() as conn:
                now = conn.execute(select(c.db.now())).scalar()
                batch = []
                for i in part:
                    cid = rows.clip_id[i]
                    draft = draft_of.get(cid)
                    with_draft += draft is not None
                    names = json.dumps([ontology.name(m) for m in rows.labels[i] or []], ensure_ascii=False)
                    batch.append((cid, rows.key[i], stage, gold, split, names, rows.media[i], draft,
                                  draft_source if draft is not None else None, ClipState.OPEN.value, 1, now))
                _insert(c, conn, batch)
                record(conn, c, None, "import", str(source.resolve()), stage=stage, clips=len(batch),
                       first=rows.clip_id[part[0]])
            imported += len(part)
            bar.update(len(part))
    if rows.problems:
        with c.db.write() as conn:
            record(conn, c, None, "import-problems", str(source.resolve()), stage=stage, bad=len(rows.problems),
                   problems=rows.problems[:KEPT_PROBLEMS])
    return ImportSummary(str(source), kind, stage, imported, len(rows.clip_id) - len(todo), rows.not_ok,
                         len(rows.problems), rows.problems[:KEPT_PROBLEMS], with_draft, time.monotonic() - began)
