"""The one submission validator: every problem as ``Problem(kind, message)``, one line each.

Runs before any scoring (pycocoevalcap only has bare ``assert``s on ids). Problems of one kind are
grouped into one line with their count and the first few offenders, so a submission with 3,000 missing
ids prints one readable line, not 3,000.
"""

from __future__ import annotations

import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from valor_bench.formats import (
    AvcSubmission,
    AvrMatrixSubmission,
    AvrRankingSubmission,
    Metadata,
    SubmissionFormatError,
    avr_kind,
    read_avc,
    read_avr_matrix,
    read_avr_ranking,
    read_metadata,
)
from valor_bench.ground_truth import GroundTruth
from valor_data.captions.textnorm import line_break_in

MAX_CAPTION_CHARS = 2000
MIN_RANKING_LEN = 10
SHOW = 5  # offenders named per problem line


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass
class Validation:
    task: str
    path: Path
    problems: list[Problem] = field(default_factory=list)
    metadata: Metadata = field(default_factory=Metadata)
    submission: AvcSubmission | AvrMatrixSubmission | AvrRankingSubmission | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self, gt: GroundTruth) -> dict:
        return {
            "valid": self.ok,
            "task": self.task,
            "split": gt.split,
            "submission": str(self.path),
            "coverage": gt.coverage.as_json(),
            "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
            "notes": self.notes,
        }


def _first(items: Iterable[str], n: int = SHOW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in items[:n])
    return shown + (f", ... (and {len(items) - n:,} more)" if len(items) > n else "")


def _grouped(problems: list[Problem], kind: str, what: str, items: list) -> None:
    if items:
        problems.append(Problem(kind, f"{what} ({len(items):,}): {_first(items)}"))


def _id_set_problems(problems: list[Problem], noun: str, expected: list[str], given: list[str],
                     scope: str = "the ground truth") -> None:
    """Missing, extra and duplicate ids (``given`` already mapped to canonical ids; None = unknown)."""
    counts = Counter(given)
    exp = set(expected)
    _grouped(problems, "duplicate", f"{noun}s given more than once",
             [f"{k} ({c}x)" for k, c in counts.items() if c > 1 and k in exp])
    _grouped(problems, "missing", f"{noun}s of {scope} missing", [x for x in expected if x not in counts])


def _extra_problems(problems: list[Problem], gt: GroundTruth, noun: str, what: str, unknown: list[str],
                    video_of: Callable[[str], str] = lambda x: x) -> None:
    """Ids outside the ground truth (``what``); with ``--available``, those of unavailable clips get their
    own line."""
    unavailable = [x for x in unknown if video_of(x) in gt.excluded]
    if unavailable:
        _grouped(problems, "extra", f"{noun} of {gt.split} clips that {Path(gt.available_from or '').name} does not "
                 "list as available (a partial submission covers exactly the available clips)", unavailable)
    _grouped(problems, "extra", what, [x for x in unknown if video_of(x) not in gt.excluded])


def validate_avc(sub: AvcSubmission, gt: GroundTruth) -> list[Problem]:
    problems: list[Problem] = []
    _grouped(problems, "bad_record", 'records that are not {"video_id", "caption"} objects',
             [f"{w} ({msg})" for w, msg in sub.bad])
    ids, not_str, not_str_cap, empty, breaks, long = [], [], [], [], [], []
    for e in sub.entries:
        if not isinstance(e.video_id, str):
            not_str.append(f"{e.where}: {e.video_id!r}")
            continue
        ids.append(e.video_id)
        if not isinstance(e.caption, str):
            not_str_cap.append(f"{e.video_id} ({type(e.caption).__name__})")
        elif not e.caption.strip():
            empty.append(e.video_id)
        elif line_break_in(e.caption):
            breaks.append(f"{e.video_id} ({line_break_in(e.caption)})")
        elif len(e.caption) > MAX_CAPTION_CHARS:
            long.append(f"{e.video_id} ({len(e.caption):,} chars)")
    _grouped(problems, "not_string", "video ids that are not strings", not_str)
    _grouped(problems, "not_string", "captions that are not strings", not_str_cap)
    _grouped(problems, "empty_caption", "empty captions", empty)
    _grouped(problems, "line_break", "captions with a line break the PTB tokenizer splits on (it would shift "
             "every later caption onto the wrong clip); replace it with a space", breaks)
    _grouped(problems, "too_long", f"captions longer than {MAX_CAPTION_CHARS:,} characters", long)
    known = set(gt.video_ids)
    _extra_problems(problems, gt, "video ids", "video ids not in the ground truth", [x for x in dict.fromkeys(ids) if x not in known])
    _id_set_problems(problems, "video id", gt.video_ids, ids, gt.scope)
    return problems


def _resolve_texts(problems: list[Problem], gt: GroundTruth, keys: list[str]) -> None:
    index = gt.text_index()
    canonical = gt.text_ids()
    unknown = [k for k in keys if k not in index]
    _extra_problems(problems, gt, "text ids", "text ids that are not captions of the ground truth (expected '{video_id}#{i}', or "
                    "the bare video id for a clip with one caption)", unknown, lambda k: k.rpartition("#")[0] or k)
    resolved = [canonical[index[k]] for k in keys if k in index]
    _id_set_problems(problems, "text id", canonical, resolved, gt.scope)


def validate_avr_matrix(sub: AvrMatrixSubmission, gt: GroundTruth, block_bytes: int = 64 * 1024**2) -> list[Problem]:
    problems: list[Problem] = []
    _resolve_texts(problems, gt, sub.text_ids)
    known = set(gt.video_ids)
    _extra_problems(problems, gt, "video ids", "video ids that are not clips of the ground truth",
                    [x for x in dict.fromkeys(sub.video_ids) if x not in known])
    _id_set_problems(problems, "video id", gt.video_ids, sub.video_ids, gt.scope)
    expected = (len(sub.text_ids), len(sub.video_ids))
    if sub.sim.shape != expected:
        problems.append(Problem("shape", f"sim has shape {sub.sim.shape} but text_ids x video_ids is {expected} "
                                "(rows are texts, columns are videos)"))
        return problems
    bad_count, where = 0, []
    for start, block in sub.sim.blocks(block_bytes):
        finite = np.isfinite(block)
        if not finite.all():
            rows, cols = np.nonzero(~finite)
            bad_count += len(rows)
            for r, c in zip(rows[:SHOW], cols[:SHOW], strict=True):
                if len(where) < SHOW:
                    where.append(f"[{sub.text_ids[start + r]}, {sub.video_ids[c]}]={block[r, c]}")
    if bad_count:
        problems.append(Problem("nonfinite", f"NaN or infinite similarities ({bad_count:,}): {_first(where)}"))
    return problems


def validate_avr_ranking(sub: AvrRankingSubmission, gt: GroundTruth) -> list[Problem]:
    problems: list[Problem] = []
    _grouped(problems, "duplicate", "query keys repeated in the JSON object", list(dict.fromkeys(sub.duplicate_keys)))
    _grouped(problems, "bad_record", "rankings that are not lists of video id strings", [f"{k} ({m})" for k, m in sub.bad])
    _resolve_texts(problems, gt, list(sub.rankings))
    known = set(gt.video_ids)
    short, unknown, dups = [], [], []
    for key, ranking in sub.rankings.items():
        if len(ranking) < MIN_RANKING_LEN:
            short.append(f"{key} ({len(ranking)})")
        bad = [v for v in ranking if v not in known]
        if bad:
            unknown.append(f"{key} -> {bad[0]!r}" + (f" (+{len(bad) - 1})" if len(bad) > 1 else ""))
        if len(set(ranking)) != len(ranking):
            dups.append(key)
    _grouped(problems, "short_ranking", f"rankings with fewer than {MIN_RANKING_LEN} videos", short)
    _grouped(problems, "unknown_id", f"rankings naming videos that are not clips of {gt.scope}", unknown)
    _grouped(problems, "duplicate", "rankings listing a video more than once", dups)
    return problems


class SubmissionNotFound(FileNotFoundError):
    """The submission file does not exist: nothing to validate (a wrong path, not a bad submission)."""

    def __init__(self, path: Path):
        super().__init__(f"{path}: no such submission file")


def validate_submission(path: str | Path, task: str, gt: GroundTruth,
                        meta_overrides: dict[str, str | None] | None = None) -> Validation:
    """Read and check ``path`` as a ``task`` submission; never raises for a bad submission, only
    :class:`SubmissionNotFound` when there is no file to check."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionNotFound(path)
    result = Validation(task, path)
    result.metadata, meta_problems = read_metadata(path, meta_overrides)
    result.problems += [Problem("metadata", m) for m in meta_problems]
    try:
        if task == "avc":
            sub = read_avc(path)
            result.problems += validate_avc(sub, gt)
        elif avr_kind(path) == "matrix":
            sub = read_avr_matrix(path)
            result.notes += sub.notes
            result.problems += validate_avr_matrix(sub, gt)
        else:
            sub = read_avr_ranking(path)
            result.problems += validate_avr_ranking(sub, gt)
            result.notes.append("a ranking JSON gives text-to-video ranks only (v2t is not computed); a target "
                                "missing from a top-K list counts as rank K+1")
    except SubmissionFormatError as e:
        result.problems.append(Problem(e.kind, str(e)))
        return result
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        result.problems.append(Problem("format", f"{path}: cannot be read ({type(e).__name__}: {e})"))
        return result
    result.submission = sub
    return result
