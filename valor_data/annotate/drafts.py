"""Model drafts (Clotho's edit step): an AVC predictions file seeds clips with a caption the annotator edits
instead of writing from scratch, and the word edit distance says how much they changed it.

The file is the reference model's ``predict --task avc`` output or any AVC submission: a JSON list (or JSONL)
of ``{"video_id": ..., "caption": ...}`` (``valor_bench.formats``; read here directly, valor_data does not
import valor_bench). ``clip_id`` is accepted for ``video_id``.
"""

from __future__ import annotations

from pathlib import Path

from valor_data.inputs import AnnotationFileError, json_records

MAX_DRAFT_CHARS = 5000


class DraftsError(ValueError):
    """The predictions file cannot be used: one line naming the file, the record and what is wrong."""


def load_drafts(path: str | Path) -> dict[str, str]:
    """clip id -> draft caption, from an AVC predictions file."""
    drafts: dict[str, str] = {}
    try:
        for n, rec in json_records(path):
            where = f"{path}: record {n}"
            if not isinstance(rec, dict):
                raise DraftsError(f"{where}: expected an object with 'video_id' and 'caption'")
            clip_id = rec.get("video_id", rec.get("clip_id"))
            caption = rec.get("caption")
            if not isinstance(clip_id, str) or not clip_id.strip():
                raise DraftsError(f"{where}: 'video_id' must be a non-empty string, got {clip_id!r}")
            if isinstance(caption, list) and caption and all(isinstance(x, str) for x in caption):
                caption = caption[0]
            if not isinstance(caption, str) or not caption.strip() or len(caption) > MAX_DRAFT_CHARS:
                raise DraftsError(f"{where}: 'caption' must be a non-empty string of at most {MAX_DRAFT_CHARS} "
                                  f"characters")
            if clip_id in drafts:
                raise DraftsError(f"{where}: clip {clip_id} has a second draft")
            drafts[clip_id.strip()] = " ".join(caption.split())
    except AnnotationFileError as e:
        raise DraftsError(str(e)) from None
    return drafts


def word_edit_distance(a: str, b: str) -> int:
    """Word insertions, deletions and substitutions that turn ``a`` into ``b`` (Levenshtein over words)."""
    x, y = a.split(), b.split()
    previous = list(range(len(y) + 1))
    for i, wx in enumerate(x, 1):
        current = [i]
        for j, wy in enumerate(y, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (wx != wy)))
        previous = current
    return previous[-1]
