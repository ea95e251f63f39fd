"""The clips of a shard directory as an exporter needs them: where each member's bytes lie in its tar,
the clip id and the captions, and which split each clip belongs to.

Nothing is unpacked: ``index.parquet`` gives every member's byte range, and only the small ``{key}.json``
members (clip id, captions) are read, by seeking in the tar. A shard directory records no split (``valor-data
shard --ids`` makes one directory per split), so the split comes from the caller: one name for the whole
directory, or the split files of ``valor-data split`` (``{split}_ids.txt`` or ``desc_{split}.json``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow.parquet as pq

from valor_data.clip import ClipRef, InvalidClip
from valor_data.inputs import BadRow, read_clips
from valor_data.shards.inputs import clean_captions
from valor_data.shards.layout import INDEX_NAME
from valor_data.splits.audit import split_files_in, split_name_of
from valor_data.splits.stratify import SPLITS


class ExportError(Exception):
    """A shard directory, split file or output folder an export cannot use; the message is one line."""


@dataclass(frozen=True)
class MemberRange:
    """One tar member's data: ``size`` bytes from ``offset`` in ``tar``."""

    tar: str
    offset: int
    size: int

    @property
    def ffmpeg_url(self) -> str:
        """The member as an ffmpeg input, read in place through the ``subfile`` protocol."""
        return f"subfile,,start,{self.offset},end,{self.offset + self.size},,:{self.tar}"


@dataclass(frozen=True)
class ShardClip:
    """A sample of the shard directory: its ids, captions and media byte ranges (audio ``None``: no sound)."""

    clip_id: str
    key: str
    captions: tuple[str, ...]
    video: MemberRange | None
    audio: MemberRange | None
    problem: str = ""  # why the clip cannot be exported (e.g. an unreadable json member), else empty


def read_shard_clips(shard_dir: str | Path) -> list[ShardClip]:
    """Every sample of ``shard_dir``, in tar order (shard, then offset), from its index and json members."""
    root = Path(shard_dir)
    index_path = root / INDEX_NAME
    if not index_path.is_file():
        raise ExportError(f"{root}: no {INDEX_NAME} here; give a directory written by `valor-data shard` "
                          "(a finished run)")
    try:
        index = pq.read_table(index_path, columns=["key", "clip_id", "shard", "member", "offset_data", "size"])
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad parquet / missing column
        raise ExportError(f"{index_path}: not a shard index ({e})") from None
    members: dict[str, dict[str, MemberRange]] = {}
    index_ids: dict[str, str] = {}
    tars = {name: str((root / name).resolve()) for name in index.column("shard").unique().to_pylist()}
    columns = [index.column(name).to_pylist() for name in ("key", "clip_id", "shard", "member", "offset_data", "size")]
    for key, clip_id, shard, member, offset, size in zip(*columns, strict=True):  # no dict per row: 4M at VALOR-1M
        members.setdefault(key, {})[member] = MemberRange(tars[shard], offset, size)
        if clip_id:
            index_ids[key] = clip_id
    clips = []
    handles: dict[str, BinaryIO] = {}
    try:
        for key, by_member in members.items():
            clips.append(_clip(key, by_member, index_ids.get(key, ""), handles))
    finally:
        for handle in handles.values():
            handle.close()
    first = {key: min((m.tar, m.offset) for m in by_member.values()) for key, by_member in members.items()}
    return sorted(clips, key=lambda c: first[c.key])


def _clip(key: str, by_member: dict[str, MemberRange], index_id: str, handles: dict[str, BinaryIO]) -> ShardClip:
    video = by_member.get("mp4")
    audio = by_member.get("flac")
    audio = audio if audio is not None and audio.size > 0 else None
    meta, problem = {}, ""
    json_member = by_member.get("json")
    if json_member is None:
        problem = "no .json member (clip id and captions)"
    else:
        try:
            if json_member.tar not in handles:
                handles[json_member.tar] = open(json_member.tar, "rb")  # noqa: SIM115 - closed by the caller
            handle = handles[json_member.tar]
            handle.seek(json_member.offset)
            meta = json.loads(handle.read(json_member.size))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            meta, problem = {}, f"unreadable .json member: {e}"
    clip_id = meta.get("clip_id") or index_id
    if not clip_id:
        try:
            clip_id = ClipRef.from_key(key).clip_id
        except InvalidClip:
            clip_id, problem = key, problem or f"no clip id for sample {key}"
    if video is None and not problem:
        problem = "no .mp4 member"
    captions = clean_captions(meta.get("captions") if isinstance(meta.get("captions"), list) else ())
    return ShardClip(clip_id, key, captions, video, audio, problem)


@dataclass
class SplitChoice:
    """The clips of each chosen split, and what the split files and the shard directory did not share."""

    clips: dict[str, list[ShardClip]]
    not_in_splits: int  # clips of the shard directory in none of the chosen splits
    listed_missing: int  # clips the split files list that the shard directory lacks


def check_split_options(splits: Sequence[str], split_dir: str | Path | None) -> None:
    """Known split names, and exactly one of them when no split files say which clip is in which split."""
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ExportError(f"--split {unknown[0]}: choose among {', '.join(SPLITS)}")
    if split_dir is None and len(set(splits)) != 1:
        raise ExportError("a shard directory records no split: name the one its clips belong to with --split "
                          "(e.g. --split test), or give --split-dir with the files of `valor-data split`")


def choose_splits(clips: Sequence[ShardClip], splits: Sequence[str], split_dir: str | Path | None) -> SplitChoice:
    """Put each clip into its split: with ``split_dir``, the split whose file lists it (only ``splits``, all
    of them when empty); without, every clip into the one split named in ``splits``."""
    check_split_options(splits, split_dir)
    if split_dir is None:
        return SplitChoice({splits[0]: list(clips)}, 0, 0)
    by_key = {c.key: c for c in clips}
    chosen: dict[str, list[ShardClip]] = {}
    split_of: dict[str, str] = {}
    missing = 0
    try:
        files = split_files_in(split_dir)
    except ValueError as e:
        raise ExportError(f"--split-dir {e}") from None
    for position, path in enumerate(files):
        name = split_name_of(path, position)
        if splits and name not in splits:
            continue
        chosen[name] = []
        for item in read_clips(path):
            if isinstance(item, BadRow):
                raise ExportError(f"--split-dir {item.where}: {item.message}")
            if item.key in split_of and split_of[item.key] != name:
                raise ExportError(f"--split-dir: {item.clip_id} is in both {split_of[item.key]} and {name}")
            if item.key in split_of:
                continue
            split_of[item.key] = name
            if item.key in by_key:
                chosen[name].append(by_key[item.key])
            else:
                missing += 1
    absent = [s for s in splits if s not in chosen]
    if absent:
        raise ExportError(f"--split {absent[0]}: {split_dir} has no split file for it")
    return SplitChoice(chosen, sum(1 for k in by_key if k not in split_of), missing)
