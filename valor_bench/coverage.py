"""Partial coverage: scoring the clips a user could download, and saying so everywhere.

VALOR-32K's clips keep vanishing from YouTube, so many users hold only part of a split. They pass
``--available FILE`` (the clips they have) and are scored on the ground truth restricted to those clips;
every result then carries a :class:`Coverage` (clips scored, clips in the split, the share, and a digest
of the available set) so that a partial number is never mistaken for, or ranked against, a full one.

Availability files (:func:`read_availability`):

* a list: one clip id a line, blank lines and ``#`` comments ignored. ``valor-bench availability`` (and
  ``valor-data card``, through :mod:`valor_data.availability`) writes
  one with a header of ``# key: value`` lines (format, ground truth, clips, digest, date, source); a
  header ``digest`` must match the ids and a header ``split`` must match the ground truth.
* a fetch ``manifest.parquet`` (its ``ok`` clips) or a shard ``index.parquet`` (its clips). These record
  a download, which may span several splits: their clips outside the ground truth are ignored (a note
  counts them). A list is made for one ground truth: an id outside it is an error.

The digest (:func:`availability_digest`) is the one identity of an available set: two partial results are
comparable only when their digests are equal. Checking a file against a ground truth and restricting to
it are the ground truth's (``ground_truth.py``: :func:`~valor_bench.ground_truth.restrict`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from valor_data.availability import availability_digest

SHOW = 5  # ids named per problem line
HEADER_KEYS = ("format", "name", "split", "annotations sha256", "clips", "split clips", "coverage", "digest", "date",
               "source", "source sha256", "toolkit")


class AvailabilityError(ValueError):
    """An availability file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


def _percent_text(share: float, partial: bool) -> str:
    text = f"{share * 100:.1f} %"
    return "> 99.9 %" if partial and text == "100.0 %" else text


@dataclass(frozen=True)
class Coverage:
    """How much of the ground truth a result was scored on. ``digest`` is None for full coverage."""

    scored: int
    split_clips: int
    digest: str | None = None

    @classmethod
    def full(cls, n: int) -> Coverage:
        return cls(n, n, None)

    @classmethod
    def of(cls, available: Sequence[str], split_ids: Sequence[str]) -> Coverage:
        """The coverage of ``available`` (a subset of ``split_ids``); all of them is full coverage."""
        n, total = len(set(available)), len(set(split_ids))
        return cls(n, total, None if n == total else availability_digest(available))

    @classmethod
    def from_json(cls, data: dict | None) -> Coverage | None:
        if not data:
            return None
        return cls(int(data["scored"]), int(data["split_clips"]), data.get("digest"))

    @property
    def share(self) -> float:
        return self.scored / self.split_clips if self.split_clips else 0.0

    @property
    def percent(self) -> float:
        return round(self.share * 100, 1)

    @property
    def partial(self) -> bool:
        return self.scored < self.split_clips

    def as_json(self) -> dict:
        return {"scored": self.scored, "split_clips": self.split_clips, "share": self.share,
                "percent": self.percent, "digest": self.digest, "partial": self.partial}

    def short(self) -> str:
        """``full`` or ``partial 90.0 %``: the label of a table cell."""
        return f"partial {_percent_text(self.share, True)}" if self.partial else "full"

    def describe(self) -> str:
        if not self.partial:
            return f"full coverage ({self.scored:,} of {self.split_clips:,} clips)"
        return (f"PARTIAL coverage: {self.scored:,} of {self.split_clips:,} clips "
                f"({_percent_text(self.share, True)}), available set sha256 {self.digest[:12]}")


def partial_note(task: str, coverage: Coverage, source: str | None) -> str:
    """What a partial result means for the task's numbers (the note printed with every partial result)."""
    where = f" listed in {source}" if source else ""
    head = (f"partial coverage: scored on the {coverage.scored:,} available clips{where}, "
            f"{_percent_text(coverage.share, True)} of the {coverage.split_clips:,} in the split; ")
    if task == "avr":
        return head + ("queries (their captions) and gallery are both restricted to them, so every rank is "
                       "computed among fewer clips: R@K / MdR / MnR are not comparable with full-split results")
    return head + ("CIDEr-D's IDF comes from the references of these clips only and BLEU / METEOR are corpus "
                   "statistics over them: the scores are not comparable with full-split results")


# -------------------------------------------------------------------------------------------- reading
@dataclass
class Availability:
    """The clips a user has, as read from a file."""

    clip_ids: list[str]  # distinct, in file order
    source: str  # the file, for messages
    kind: str  # "list" | "manifest" | "index"
    header: dict[str, str] = field(default_factory=dict)  # a list's "# key: value" lines
    duplicates: dict[str, int] = field(default_factory=dict)  # id -> times listed (lists only)
    notes: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return availability_digest(self.clip_ids)

    @property
    def name(self) -> str:
        return Path(self.source).name


def _read_list(path: Path) -> Availability:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise AvailabilityError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    header: dict[str, str] = {}
    ids: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            key, sep, value = line.lstrip("#").partition(":")
            if sep and key.strip().lower() in HEADER_KEYS:
                header[key.strip().lower()] = value.strip()
        elif line:
            ids.append(line)
    counts = Counter(ids)
    return Availability(list(dict.fromkeys(ids)), str(path), "list", header,
                        {k: c for k, c in counts.items() if c > 1})


def _read_parquet(path: Path) -> Availability:
    try:
        names = set(pq.read_schema(path).names)
        if {"clip_id", "status"} <= names:  # a fetch or shard manifest: one row per input clip
            table = pq.read_table(path, columns=["clip_id", "status"])
            ok = table.filter(pc.equal(table["status"], "ok")).column("clip_id").to_pylist()
            avail = Availability(list(dict.fromkeys(i for i in ok if i)), str(path), "manifest")
            if not avail.clip_ids:
                raise AvailabilityError(f"{path}: no clip with status 'ok' among its {table.num_rows:,} rows")
            avail.notes.append(f"{path.name}: {len(avail.clip_ids):,} ok clips of {table.num_rows:,} manifest rows")
            return avail
        if {"clip_id", "member"} <= names:  # a shard index: one row per tar member
            ids = pq.read_table(path, columns=["clip_id"]).column("clip_id").to_pylist()
            return Availability(list(dict.fromkeys(i for i in ids if i)), str(path), "index")
    except (pa.ArrowException, OSError) as e:
        raise AvailabilityError(f"{path}: not a readable parquet file ({e})") from None
    raise AvailabilityError(f"{path}: a parquet availability file is a fetch/shard manifest.parquet (columns clip_id, "
                            f"status) or a shard index.parquet (clip_id, member); it has {', '.join(sorted(names))}")


def read_availability(path: str | Path) -> Availability:
    """Read a list (``.txt`` or any other name), a ``manifest.parquet`` or an ``index.parquet``.

    The extension decides: ``.parquet`` is read as a manifest or an index (by its columns), anything else
    as a list. Raises :class:`AvailabilityError` for an unreadable or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise AvailabilityError(f"{path}: availability file not found")
    avail = _read_parquet(path) if path.suffix.lower() == ".parquet" else _read_list(path)
    if not avail.clip_ids:
        raise AvailabilityError(f"{path}: no clip ids (an availability list has one clip id a line; "
                                "'#' lines are comments)")
    return avail
