"""Readers for the inputs users bring: AudioSet segment CSVs, VALOR annotation JSON, plain clip-id lists.

Each reader yields :class:`ClipRef` for good rows and :class:`BadRow` for malformed ones (with file and
line), so that one bad row is recorded and never stops the rest. The format is chosen from the file
extension (``.csv`` AudioSet, ``.json``/``.jsonl`` VALOR, anything else an id list) or named explicitly.

:func:`read_annotations` is the one reader of VALOR annotation JSON: fetch's inputs, the caption readers
(ACD, stats) and valor_bench's ground truth all read through it (the caption readers through
:func:`json_records`, its file layer, since they also take other datasets' JSON shapes).
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


class AnnotationFileError(ValueError):
    """A JSON annotation file that cannot be read at all; the message starts with the file name."""


def json_records(path: str | Path, *, mapping: bool = False,
                 errors: str = "strict") -> Iterator[tuple[int | str, object]]:
    """``(position, record)`` of a JSON list or a JSONL file: the file layer of the VALOR annotation reader.

    The position is the 1-based index in a JSON list or line of a JSONL file or, with ``mapping``, the key
    of a JSON object. A JSONL line that is not JSON is yielded as its :class:`json.JSONDecodeError`: one bad
    line of a long file is that record's problem, not the file's. ``errors`` is the text decoding's
    (``"surrogateescape"`` keeps undecodable bytes for the caller). Raises :class:`AnnotationFileError` for
    a file that is not JSON, not UTF-8 or not a list.
    """
    path = Path(path)
    try:
        if _is_jsonl(path):
            with path.open(encoding="utf-8", errors=errors) as f:
                lines = [(n, text) for n, text in enumerate(f, 1) if text.strip()]
            for n, text in lines:
                try:
                    yield n, json.loads(text)
                except json.JSONDecodeError as e:
                    yield n, e
            return
        with path.open(encoding="utf-8", errors=errors) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationFileError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError as e:
        raise AnnotationFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if mapping and isinstance(data, dict):
        yield from ((str(k), rec) for k, rec in data.items())
    elif isinstance(data, list):
        yield from enumerate(data, 1)
    else:
        wanted = "a JSON list or object" if mapping else 'a JSON list of {"video_id", "desc"} objects'
        raise AnnotationFileError(f"{path}: expected {wanted}, got {type(data).__name__}")


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() == ".jsonl"


def captions_of(desc: object) -> tuple[str, ...]:
    """VALOR ``desc`` is a string or a list of strings."""
    if isinstance(desc, str):
        return (desc,)
    if isinstance(desc, list) and all(isinstance(x, str) for x in desc):
        return tuple(desc)
    raise ValueError(f"'desc' must be a string or a list of strings, got {type(desc).__name__}")


@dataclass(frozen=True)
class Annotation:
    """One record of a VALOR annotation file: its video id and captions, or why it is not one."""

    line: int  # 1-based index in a JSON list, or line of a JSONL file
    where: str  # "record N" or "line N", for messages
    raw: str  # the record as JSON text (first 200 characters), for messages
    video_id: str = ""
    captions: tuple[str, ...] = ()  # () when the record has no 'desc'
    problem: str = ""  # "" for a valid record


def read_annotations(path: str | Path) -> Iterator[Annotation]:
    """Every record of a VALOR annotation file ``[{"video_id": str, "desc": str | [str]}]`` (or JSONL).

    Records that are not VALOR records come with their ``problem``; the file itself raises
    :class:`AnnotationFileError` when it cannot be read.
    """
    unit = "line" if _is_jsonl(Path(path)) else "record"
    for n, rec in json_records(path):
        where = f"{unit} {n}"
        if isinstance(rec, json.JSONDecodeError):
            yield Annotation(n, where, "", problem=f"invalid JSON: {rec}")
            continue
        raw = json.dumps(rec, ensure_ascii=False)[:200]
        if not isinstance(rec, dict) or "video_id" not in rec:
            yield Annotation(n, where, raw, problem="expected an object with 'video_id'")
            continue
        vid = rec["video_id"]
        if not isinstance(vid, str) or not vid.strip():
            yield Annotation(n, where, raw, problem=f"'video_id' must be a non-empty string, got {vid!r}")
            continue
        try:
            caps = captions_of(rec["desc"]) if "desc" in rec else ()
        except ValueError as e:
            yield Annotation(n, where, raw, vid, problem=str(e))
            continue
        yield Annotation(n, where, raw, vid, caps)


def read_valor_json(path: str | Path) -> Iterator[ClipRef | BadRow]:
    """VALOR annotation JSON whose video ids are clip ids ``{ytid}_{start}_{end}``, as clips."""
    source = str(path)
    for ann in read_annotations(path):
        if ann.problem:
            yield BadRow(source, ann.line, ann.raw, ann.problem)
            continue
        try:
            yield ClipRef.from_clip_id(ann.video_id, captions=ann.captions, source=source, line=ann.line)
        except InvalidClip as e:
            yield BadRow(source, ann.line, ann.raw, str(e))


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
