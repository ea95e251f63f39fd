"""Caption readers for ACD and stats: plain text, JSON/JSONL (VALOR and friends), CSV/TSV.

The format comes from the extension (``.txt`` and anything unknown: text; ``.json``/``.jsonl``;
``.csv``/``.tsv``) or is named. Whole-file problems (unreadable, not JSON, no such field or column) raise
:class:`CaptionReadError` whose message starts with the file name; a single bad record (an empty caption,
a record without the field) is skipped and recorded in :attr:`CaptionFile.skipped` with its reason.

* Text: one caption per line; blank lines are skipped. The id is the line number.
* JSON: a list of records (VALOR ``[{"video_id", "desc"}]``), a list of strings, or an object mapping
  ids to records or to captions (ActivityNet ``{"v_x": {"sentences": [...]}}``). The caption field is
  ``field`` or, when not given, the first of :data:`AUTO_FIELDS` present; its value is a string or a list
  of strings (every string is one caption). JSONL: one such record per line.
* CSV/TSV: ``columns`` names the caption columns (several allowed: Clotho's ``caption_1``..``caption_5``);
  when not given, ``caption_N`` columns or the first of :data:`AUTO_FIELDS` among the header. With
  ``header=False`` (CC3M's TSV) columns are 0-based indexes and the default is column 0. TSV cells are
  read without quote processing (a ``"`` in a TSV caption is a character, as CC3M needs).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from valor_data.inputs import AnnotationFileError, captions_of, json_records

FORMATS = ("text", "json", "csv")
AUTO_FIELDS = ("desc", "caption", "captions", "sentences", "sentence", "text", "name")
_ID_FIELDS = ("video_id", "id", "audiocap_id", "image_id", "file_name", "videoid", "youtube_id")
_CAPTION_N = re.compile(r"^caption_?\d+$", re.IGNORECASE)


class CaptionReadError(ValueError):
    """A caption file that cannot be read as asked; the message names the file."""


@dataclass(frozen=True)
class Caption:
    source: str
    index: int  # 0-based position among the captions read from this file
    id: str  # record id: video_id / object key / line or row number
    text: str


@dataclass
class CaptionFile:
    path: str
    captions: list[Caption]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.captions]


def guess_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".json", ".jsonl"):
        return "json"
    if suffix in (".csv", ".tsv"):
        return "csv"
    return "text"


def read_captions(
    path: str | Path,
    *,
    fmt: str | None = None,
    field: str | None = None,
    columns: Sequence[str] | None = None,
    header: bool = True,
) -> CaptionFile:
    """Read every caption of one file (see the module docstring for the formats)."""
    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise CaptionReadError(f"{path}: unknown caption format {fmt!r} (choose one of {', '.join(FORMATS)})")
    if not path.is_file():
        raise CaptionReadError(f"{path}: no such file")
    out = CaptionFile(str(path), [])
    try:
        if fmt == "json":
            items = _json_items(path, field)
        elif fmt == "csv":
            items = _table_items(path, columns, header)
        else:
            items = _text_items(path)
        for rid, text, problem in items:
            problem = problem or _not_utf8(text)
            if problem or not text.strip():
                out.skipped.append((f"{path}:{rid}", problem or "empty caption"))
                continue
            out.captions.append(Caption(str(path), len(out.captions), rid, text))
    except UnicodeDecodeError as e:
        raise CaptionReadError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise CaptionReadError(f"{path}: cannot read ({e.strerror or e})") from None
    if not out.captions and out.skipped and all(why.startswith("not UTF-8") for _, why in out.skipped):
        where, why = out.skipped[0]
        raise CaptionReadError(f"{path}: not UTF-8 text, no caption decodes (first: {where}: {why})")
    return out


Item = tuple[str, str, str]  # (record id, caption, problem or "")
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, kept by errors="surrogateescape"


def _not_utf8(text: str) -> str:
    """Why a caption read with ``surrogateescape`` is not UTF-8 text, or "": one bad byte in a web-scraped
    corpus of a million lines skips that caption, not the file."""
    m = _UNDECODABLE.search(text)
    return f"not UTF-8 (byte 0x{ord(m.group()) - 0xDC00:02x} at character {m.start() + 1})" if m else ""


def _text_items(path: Path) -> Iterator[Item]:
    with path.open(encoding="utf-8", errors="surrogateescape") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield str(n), line.rstrip("\r\n"), ""


def _load_json(path: Path) -> list[tuple[str, object]]:
    try:
        records = list(json_records(path, mapping=True, errors="surrogateescape"))
    except AnnotationFileError as e:
        raise CaptionReadError(str(e)) from None
    for n, rec in records:
        if isinstance(rec, json.JSONDecodeError):
            raise CaptionReadError(f"{path}:{n}: invalid JSON line ({rec.msg})")
    return [(str(n), rec) for n, rec in records]


def _pick_field(path: Path, records: list[tuple[str, object]], field: str | None) -> str | None:
    dicts = [rec for _, rec in records if isinstance(rec, dict)]
    if not dicts:
        return None  # plain strings / lists of strings
    keys = set().union(*(d.keys() for d in dicts[:1000]))
    if field is not None:
        if not any(field in d for d in dicts):
            raise CaptionReadError(
                f"{path}: no record has the field {field!r} (fields: {', '.join(sorted(keys))})"
            )
        return field
    for name in AUTO_FIELDS:
        if name in keys:
            return name
    raise CaptionReadError(
        f"{path}: no caption field found (tried {', '.join(AUTO_FIELDS)}; fields: {', '.join(sorted(keys))}); "
        "name one with --field"
    )


def _json_items(path: Path, field: str | None) -> Iterator[Item]:
    records = _load_json(path)
    name = _pick_field(path, records, field)
    for key, rec in records:
        if isinstance(rec, dict):
            rid = next((str(rec[k]) for k in _ID_FIELDS if k in rec), key)
            if name not in rec:
                yield rid, "", f"no field {name!r}"
                continue
            value = rec[name]
        else:
            rid, value = key, rec
        try:
            texts = captions_of(value)
        except ValueError as e:
            yield rid, "", str(e).replace("'desc'", repr(name or "caption"))
            continue
        for text in texts:
            yield rid, text, ""


def _table_items(path: Path, columns: Sequence[str] | None, header: bool) -> Iterator[Item]:
    tsv = path.suffix.lower() == ".tsv"
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = (
            csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if tsv
            else csv.reader(f, skipinitialspace=False)
        )
        try:
            first = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise CaptionReadError(f"{path}: not a readable {'TSV' if tsv else 'CSV'} file ({e})") from None
        if header:
            names = [c.strip() for c in first]
            idx = _column_indexes(path, names, columns)
            id_col = next((i for i, c in enumerate(names) if c in _ID_FIELDS), None)
            rows = reader
        else:
            idx = _index_columns(path, len(first), columns)
            id_col = None
            rows = _chain(first, reader)
        try:
            for row in rows:
                n = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                rid = row[id_col] if id_col is not None and id_col < len(row) else str(n)
                for i in idx:
                    if i >= len(row):
                        yield rid, "", f"row has {len(row)} fields, no column {i}"
                    else:
                        yield rid, row[i], ""
        except csv.Error as e:
            raise CaptionReadError(f"{path}:{reader.line_num}: malformed row ({e})") from None


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _column_indexes(path: Path, names: list[str], columns: Sequence[str] | None) -> list[int]:
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise CaptionReadError(
                f"{path}: no column {', '.join(map(repr, missing))} (columns: {', '.join(names)})"
            )
        return [names.index(c) for c in columns]
    numbered = [i for i, c in enumerate(names) if _CAPTION_N.match(c)]
    if numbered:
        return numbered
    for name in AUTO_FIELDS:
        if name in names:
            return [names.index(name)]
    raise CaptionReadError(
        f"{path}: no caption column found (columns: {', '.join(names)}); name one with --column"
    )


def _index_columns(path: Path, width: int, columns: Sequence[str] | None) -> list[int]:
    if not columns:
        return [0]
    out = []
    for c in columns:
        if not str(c).isdigit():
            raise CaptionReadError(f"{path}: without a header, --column takes 0-based indexes, got {c!r}")
        if int(c) >= width:
            raise CaptionReadError(f"{path}: no column {c} (the first row has {width} fields)")
        out.append(int(c))
    return out
