"""The clips of a shard directory as an exporter needs them: where each member's bytes lie in its tar,
the clip id and the captions, and which split each clip belongs to.

Nothing is unpacked: ``index.parquet`` gives every member's byte range, and only the small ``{key}.json``
members (clip id, captions) are read, by seeking in the tar. A shard directory records no split (``valor-data
shard --ids`` makes one directory per split), so the split comes from the caller: one name for the whole
directory, or the split files of ``valor-data split`` (``{split}_ids.txt`` or ``desc_{split}.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from valor_data.clip import ClipRef, InvalidClip
from valor_data.inputs import BadRow, read_clips
from valor_data.shards.inputs import clean_captions
from valor_data.shards.layout import ShardError
from valor_data.shards.samples import MemberRange, Sample, read_json_members, read_samples
from valor_data.splits.audit import split_files_in, split_name_of
from valor_data.splits.stratify import SPLITS


class ExportError(Exception):
    """A shard directory, split file or output folder an export cannot use; the message is one line."""


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
    try:
        samples = read_samples(shard_dir)
    except ShardError as e:
        raise ExportError(str(e)) from None
    return [_clip(sample, meta, problem) for sample, meta, problem in read_json_members(samples.values())]


def _clip(sample: Sample, meta: dict, problem: str) -> ShardClip:
    video = sample.members.get("mp4")
    audio = sample.members.get("flac")
    audio = audio if audio is not None and audio.size > 0 else None
    clip_id = meta.get("clip_id") or sample.clip_id
    if not clip_id:
        try:
            clip_id = ClipRef.from_key(sample.key).clip_id
        except InvalidClip:
            clip_id, problem = sample.key, problem or f"no clip id for sample {sample.key}"
    if video is None and not problem:
        problem = "no .mp4 member"
    captions = clean_captions(meta.get("captions") if isinstance(meta.get("captions"), list) else ())
    return ShardClip(clip_id, sample.key, captions, video, audio, problem)


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
