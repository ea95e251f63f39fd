"""Readers for the inputs users bring: AudioSet segment CSVs, VALOR annotation JSON, plain clip-id lists.

Each reader yields :class:`ClipRef` for good rows and :class:`BadRow` for malformed ones (with file and
line), so that one bad row is recorded and never stops the rest. The format is chosen from the file
extension (``.csv`` AudioSet, ``.json``/``.jsonl`` VALOR, anything else an id list) or named explicitly.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from valor_data.clip import ClipRef, InvalidClip

FORMATS = ("audioset", "valor", "ids")


@dataclass(frozen=True)
class BadRow:
    """An input row that is not a valid clip; kept so the manifest still has a row for it."""

    source: str
    line: int
    raw: str
    message: str

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def guess_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "audioset"
    if suffix in (".json", ".jsonl"):
        return "valor"
    return "ids"


def read_audioset_csv(path: str | Path) -> Iterator[ClipRef | BadRow]:
    """AudioSet segment CSV: ``#`` comment lines, then ``YTID, start, end, "label,label"`` rows.

    Tolerates the trailing empty columns that spreadsheets add.
    """
    path = Path(path)
    source = str(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, skipinitialspace=True)
        for row in reader:
            line = reader.line_num
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            while row and row[-1].strip() == "":
                row = row[:-1]
            if len(row) < 3:
                yield BadRow(source, line, ",".join(row), f"expected YTID, start, end, labels; got {len(row)} fields")
                continue
            # Label mids come from a vocabulary of 527: one string object each, not one per row (a million
            # rows of an unbalanced-train CSV hold ~2 million labels).
            labels = tuple(sys.intern(x.strip()) for x in ",".join(row[3:]).split(",") if x.strip())
            try:
                yield ClipRef.from_seconds(row[0].strip(), row[1], row[2], labels=labels, source=source, line=line)
            except InvalidClip as e:
                yield BadRow(source, line, ",".join(row), str(e))


def _valor_records(path: Path) -> Iterator[tuple[int, object]]:
    if path.suffix.lower() == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for line, text in enumerate(f, 1):
                if text.strip():
                    try:
                        yield line, json.loads(text)
                    except json.JSONDecodeError as e:
                        yield line, e
        return
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of {{\"video_id\", \"desc\"}} objects")
    # JSON arrays have no line numbers worth the name: report the 1-based record index instead.
    yield from enumerate(data, 1)


def captions_of(desc: object) -> tuple[str, ...]:
    """VALOR ``desc`` is a string or a list of strings."""
    if isinstance(desc, str):
        return (desc,)
    if isinstance(desc, list) and all(isinstance(x, str) for x in desc):
        return tuple(desc)
    raise ValueError(f"'desc' must be a string or a list of strings, got {type(desc).__name__}")


def read_valor_json(path: str | Path) -> Iterator[ClipRef | BadRow]:
    """VALOR annotation JSON ``[{"video_id": "{ytid}_{start}_{end}", "desc": str | [str]}]`` (or JSONL)."""
    path = Path(path)
    for line, rec in _valor_records(path):
        if isinstance(rec, Exception):
            yield BadRow(str(path), line, "", f"invalid JSON: {rec}")
            continue
        raw = json.dumps(rec, ensure_ascii=False)[:200]
        if not isinstance(rec, dict) or "video_id" not in rec:
            yield BadRow(str(path), line, raw, "expected an object with 'video_id'")
            continue
        try:
            caps = captions_of(rec["desc"]) if "desc" in rec else ()
            yield ClipRef.from_clip_id(rec["video_id"], captions=caps, source=str(path), line=line)
        except (InvalidClip, ValueError) as e:
            yield BadRow(str(path), line, raw, str(e))


def read_id_list(path: str | Path) -> Iterator[ClipRef | BadRow]:
    """One clip id per line; blank lines and ``#`` comments are skipped."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                yield ClipRef.from_clip_id(text, source=str(path), line=line)
            except InvalidClip as e:
                yield BadRow(str(path), line, text, str(e))


READERS = {"audioset": read_audioset_csv, "valor": read_valor_json, "ids": read_id_list}


def read_clips(path: str | Path, fmt: str | None = None) -> Iterator[ClipRef | BadRow]:
    fmt = fmt or guess_format(path)
    if fmt not in READERS:
        raise ValueError(f"unknown input format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such input file")
    return READERS[fmt](path)


@dataclass
class InputSet:
    """All clips of several inputs, deduplicated by clip (first occurrence wins, labels/captions merged)."""

    clips: list[ClipRef]
    bad_rows: list[BadRow]
    duplicates: int


def read_inputs(paths: Iterable[str | Path], fmt: str | None = None) -> InputSet:
    by_key: dict[str, ClipRef] = {}
    bad: list[BadRow] = []
    duplicates = 0
    for path in paths:
        for item in read_clips(path, fmt):
            if isinstance(item, BadRow):
                bad.append(item)
                continue
            first = by_key.get(item.key)
            if first is None:
                by_key[item.key] = item
                continue
            duplicates += 1
            merged_labels = tuple(dict.fromkeys(first.labels + item.labels))
            merged_caps = tuple(dict.fromkeys(first.captions + item.captions))
            by_key[item.key] = ClipRef(
                first.ytid, first.start_ms, first.end_ms, merged_labels, merged_caps, first.source, first.line
            )
    return InputSet(list(by_key.values()), bad, duplicates)
