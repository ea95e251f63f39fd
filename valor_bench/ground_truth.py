"""The ground truth a submission is scored against: clips, their captions and their AudioSet labels.

Chosen with ``--split NAME`` (a VALOR-32K split the toolkit ships) or ``--annotations FILE`` (any
VALOR-format ``[{"video_id", "desc"}]`` JSON or JSONL: a user's own dataset, the demo...). Video ids are
taken as given (they need not be AudioSet clip ids); clips whose id *is* an AudioSet clip id get the
labels of the shipped AudioSet segment lists, which the per-class breakdown uses.

``available=`` restricts the ground truth to the clips a user has (``--available FILE``, read by
``coverage.py``; :func:`restrict` checks it against this ground truth): queries, gallery and references
all shrink to those clips, and ``coverage`` says how many of the split's clips that is.

Text ids (how AVR submissions name a caption): ``{video_id}#{i}`` with ``i`` the 0-based index of the
caption in the clip's ``desc`` list; for a clip with exactly one caption the bare ``{video_id}`` is
accepted as well and means ``{video_id}#0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from valor_bench.coverage import SHOW, Availability, AvailabilityError, Coverage, read_availability
from valor_data.captions.textnorm import line_break_in
from valor_data.clip import ClipRef, InvalidClip
from valor_data.digest import sha256_file
from valor_data.inputs import AnnotationFileError, read_annotations, read_audioset_csv
from valor_data.resources import audioset_segments_paths, valor32k_annotation_path

SHIPPED_SPLITS = ("test", "val", "train")


class GroundTruthError(ValueError):
    """The ground-truth file itself is unusable (it is the reference, so nothing is skipped)."""


@dataclass
class GroundTruth:
    split: str  # "test" / "val" / "train" for shipped splits, "file:NAME" for --annotations
    path: Path
    sha256: str
    video_ids: list[str]  # in file order: the canonical order everything is scored in
    captions: dict[str, tuple[str, ...]]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # AudioSet mids, () when unknown
    notes: list[str] = field(default_factory=list)
    coverage: Coverage | None = None  # None: every clip of the file (set in __post_init__)
    available_from: str | None = None  # the availability file this ground truth was restricted with
    excluded: frozenset[str] = frozenset()  # clips of the split that are not available

    def __post_init__(self) -> None:
        if self.coverage is None:
            self.coverage = Coverage.full(len(self.video_ids))

    def restricted(self, keep: list[str], coverage: Coverage, *, source: str | None = None,
                   notes: list[str] | None = None) -> GroundTruth:
        """This ground truth with only the clips ``keep`` (file order kept); ``sha256`` stays the file's."""
        have = set(keep)
        return replace(self, video_ids=[v for v in self.video_ids if v in have],
                       captions={v: c for v, c in self.captions.items() if v in have},
                       labels={v: m for v, m in self.labels.items() if v in have},
                       notes=[*self.notes, *(notes or [])], coverage=coverage, available_from=source,
                       excluded=frozenset(v for v in self.video_ids if v not in have))

    @property
    def scope(self) -> str:
        """What a submission must cover, for messages: the ground truth or the available clips."""
        return f"the available clips ({Path(self.available_from).name})" if self.available_from else "the ground truth"

    @property
    def n_clips(self) -> int:
        return len(self.video_ids)

    @property
    def n_texts(self) -> int:
        return sum(len(c) for c in self.captions.values())

    def text_ids(self) -> list[str]:
        """Canonical text ids in order: every caption of every clip."""
        return [f"{v}#{i}" for v in self.video_ids for i in range(len(self.captions[v]))]

    def text_index(self) -> dict[str, int]:
        """Text id (canonical or, for single-caption clips, bare) -> row in :meth:`text_ids` order."""
        index: dict[str, int] = {}
        row = 0
        for v in self.video_ids:
            caps = self.captions[v]
            if len(caps) == 1:
                index[v] = row
            for i in range(len(caps)):
                index[f"{v}#{i}"] = row
                row += 1
        return index

    def text_video(self) -> list[str]:
        """The video id of each text, in :meth:`text_ids` order."""
        return [v for v in self.video_ids for _ in self.captions[v]]

    def describe(self) -> str:
        if self.coverage.partial:
            return (f"{self.split} restricted to {self.n_clips:,} available clips of {self.coverage.split_clips:,} "
                    f"({self.coverage.short()}), {self.n_texts:,} captions")
        return f"{self.split} ({self.n_clips:,} clips, {self.n_texts:,} captions)"


def _parse(path: Path) -> tuple[list[str], dict[str, tuple[str, ...]], list[str], int]:
    """Video ids in file order, their captions, one error per bad record, and how many records repeated
    an id."""
    video_ids: list[str] = []
    captions: dict[str, list[str]] = {}
    errors: list[str] = []
    merged = 0
    try:
        annotations = list(read_annotations(path))
    except AnnotationFileError as e:
        raise GroundTruthError(str(e)) from None
    for ann in annotations:
        if ann.problem or not ann.captions:
            where = f"{ann.where} ({ann.video_id})" if ann.video_id else ann.where
            errors.append(f"{where}: {ann.problem or 'no caption: a reference needs a non-empty desc'}")
            continue
        vid, desc = ann.video_id, ann.captions
        for c in desc:
            if not c.strip():
                errors.append(f"{ann.where} ({vid}): empty reference caption")
            elif line_break_in(c):
                errors.append(f"{ann.where} ({vid}): caption contains the line break {line_break_in(c)}")
        if vid in captions:
            merged += 1
            captions[vid].extend(desc)
        else:
            video_ids.append(vid)
            captions[vid] = list(desc)
    if not video_ids and not errors:
        errors.append("no clips")
    return video_ids, {v: tuple(c) for v, c in captions.items()}, errors, merged


@cache
def audioset_labels() -> dict[str, tuple[str, ...]]:
    """Sample key -> AudioSet label mids, from the shipped balanced-train and eval segment lists."""
    out: dict[str, tuple[str, ...]] = {}
    for path in audioset_segments_paths():
        for clip in read_audioset_csv(path):
            if isinstance(clip, ClipRef):
                out[clip.key] = tuple(dict.fromkeys(out.get(clip.key, ()) + clip.labels))
    return out


def labels_for(video_id: str) -> tuple[str, ...]:
    try:
        key = ClipRef.from_clip_id(video_id).key
    except InvalidClip:
        return ()
    return audioset_labels().get(key, ())


@cache
def shipped_split_ids(split: str) -> frozenset[str] | None:
    """The clip ids of a shipped VALOR-32K split (None when the annotations are not installed)."""
    try:
        return frozenset(a.video_id for a in read_annotations(valor32k_annotation_path(split)) if a.video_id)
    except (FileNotFoundError, AnnotationFileError):
        return None


# ------------------------------------------------------------------------------------ availability
def _first(items: list[str], n: int = SHOW, quote: bool = True) -> str:
    shown = ", ".join(repr(x) if quote else x for x in items[:n])
    return shown + (f", ... (and {len(items) - n:,} more)" if len(items) > n else "")


def _other_split_of(ids: list[str], gt: GroundTruth) -> dict[str, list[str]]:
    """The ids that are clips of another shipped VALOR-32K split, by split."""
    out: dict[str, list[str]] = {}
    left = list(ids)
    for split in SHIPPED_SPLITS:
        if split == gt.split or not left:
            continue
        known = shipped_split_ids(split)
        if known is None:
            continue
        out[split] = [i for i in left if i in known]
        left = [i for i in left if i not in known]
    return {s: v for s, v in out.items() if v}


def availability_problems(avail: Availability, gt: GroundTruth) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` of using ``avail`` with ``gt``: one line per kind of problem."""
    problems: list[str] = []
    notes = list(avail.notes)
    src = avail.source
    known = set(gt.video_ids)
    if avail.duplicates:
        problems.append(f"{src}: clip ids listed more than once ({len(avail.duplicates):,}): "
                        + _first([f"{k!r} ({c}x)" for k, c in avail.duplicates.items()], quote=False))
    head_split = avail.header.get("split")
    if head_split and head_split != gt.split:
        problems.append(f"{src}: the list was made for split {head_split!r}, but the ground truth is {gt.split!r}")
    head_sha = avail.header.get("annotations sha256")
    if head_sha and head_sha != gt.sha256:
        notes.append(f"{avail.name} was made from other annotations (sha256 {head_sha[:12]}…) than {gt.path.name} "
                     f"({gt.sha256[:12]}…)")
    head_digest = avail.header.get("digest", "").removeprefix("sha256:")
    if head_digest and head_digest != avail.digest:
        problems.append(f"{src}: its header digest {head_digest[:12]}… does not match its {len(avail.clip_ids):,} ids "
                        f"({avail.digest[:12]}…): the list was edited after it was made; remake it, or delete the "
                        "digest line if the edit was meant")
    outside = [c for c in avail.clip_ids if c not in known]
    if outside:
        if avail.kind in ("manifest", "index"):
            notes.append(f"{avail.name}: {len(outside):,} of its clips are not in {gt.split} and were ignored")
            if len(outside) == len(avail.clip_ids):
                problems.append(f"{src}: none of its {len(outside):,} clips is a clip of {gt.split} ({_first(outside)})")
        else:
            by_split = _other_split_of(outside, gt)
            for split, ids in by_split.items():
                problems.append(f"{src}: clip ids of VALOR-32K {split}, not of {gt.split} ({len(ids):,}): {_first(ids)}"
                                " (is this the list of another split?)")
            elsewhere = {i for ids in by_split.values() for i in ids}
            unknown = [i for i in outside if i not in elsewhere]
            if unknown:
                problems.append(f"{src}: clip ids that are not clips of {gt.split} ({len(unknown):,}): {_first(unknown)}")
    return problems, notes


def restrict(gt: GroundTruth, avail: Availability) -> GroundTruth:
    """``gt`` restricted to the available clips; raises :class:`AvailabilityError` with every problem."""
    problems, notes = availability_problems(avail, gt)
    if problems:
        raise AvailabilityError(problems)
    have = set(avail.clip_ids)
    keep = [v for v in gt.video_ids if v in have]
    coverage = Coverage.of(keep, gt.video_ids)
    if not coverage.partial:
        notes.append(f"{avail.name} lists every clip of {gt.split}: full coverage")
    return gt.restricted(keep, coverage, source=avail.source, notes=notes)


def load_ground_truth(split: str | None = None, annotations: str | Path | None = None, *,
                      available: str | Path | Availability | None = None) -> GroundTruth:
    """Load ``--split`` (default ``test``) or ``--annotations``; raises :class:`GroundTruthError`.

    ``available``: an availability file (or an :class:`Availability`) restricting the ground truth to
    those clips; its problems raise :class:`AvailabilityError` (a GroundTruthError) listing each one.
    """
    if split and annotations:
        raise GroundTruthError("give either --split or --annotations, not both")
    if annotations:
        path = Path(annotations)
        if not path.is_file():
            raise GroundTruthError(f"{path}: annotation file not found")
        label = f"file:{path.name}"
    else:
        split = split or "test"
        if split not in SHIPPED_SPLITS:
            raise GroundTruthError(f"unknown split {split!r}: choose one of {', '.join(SHIPPED_SPLITS)}")
        path = valor32k_annotation_path(split)
        label = split
    video_ids, captions, errors, merged = _parse(path)
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise GroundTruthError(f"{path}: {len(errors)} invalid records: " + "; ".join(errors[:3]) + more)
    gt = GroundTruth(label, path, sha256_file(path), video_ids, captions)
    gt.labels = {v: labels_for(v) for v in video_ids}
    if merged:
        gt.notes.append(f"{merged} repeated video_id records in {path.name} were merged (captions joined)")
    if available is not None:
        try:
            avail = available if isinstance(available, Availability) else read_availability(available)
            return restrict(gt, avail)
        except AvailabilityError as e:
            raise AvailabilityProblems(e.problems) from None
    return gt


class AvailabilityProblems(GroundTruthError, AvailabilityError):
    """Bad ``available`` for this ground truth: ``problems`` holds one line per problem."""
