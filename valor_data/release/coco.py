"""COCO caption files: the references (an annotation file) and the predictions (a results list).

One annotation file serves two readers. Standard ``pycocotools`` indexes ``images[].id`` and
``annotations[].image_id`` (and needs a unique ``annotations[].id``); the official VALOR code's vendored
``coco.py`` indexes ``annotations[].video_id`` only, and its ``loadRes`` takes results keyed by
``video_id``. So every image and every annotation carries both keys, with the same value.

Ids are VALOR clip ids verbatim (``x-2Abohj8VY_30.000_40.000``), as strings, in ``image_id`` too. COCO's
own files use integers, but pycocotools only uses ids as dictionary keys and compares them as sets
(``loadRes`` checks that the results' ids are a subset of ``getImgIds()``), so any JSON string works;
a results file then needs no id mapping: a prediction names its clip. Annotation ids are 1, 2, ... in
file order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from valor_data import __version__
from valor_data.atomic import atomic_write_text
from valor_data.captions.textnorm import line_break_in

CAPTIONS_TYPE = "captions"


class CocoCaptionError(ValueError):
    """Input that would make a COCO caption file pycocotools or pycocoevalcap mis-read: one line."""


def _check_id(clip_id: object, where: str) -> str:
    if not isinstance(clip_id, str) or not clip_id.strip():
        raise CocoCaptionError(f"{where}: clip id {clip_id!r} is not a non-empty string")
    return clip_id


def _check_caption(caption: object, where: str) -> str:
    if not isinstance(caption, str) or not caption.strip():
        raise CocoCaptionError(f"{where}: caption {caption!r} is not a non-empty string")
    if line_break_in(caption):
        raise CocoCaptionError(f"{where}: caption contains the line break {line_break_in(caption)}, which the PTB "
                               "tokenizer of pycocoevalcap reads as the end of a caption")
    return caption


def caption_annotations(clips: Iterable[tuple[str, Sequence[str]]], *, description: str, url: str = "",
                        licenses: Sequence[dict] = (), provenance: Mapping[str, object] | None = None) -> dict:
    """The COCO caption annotation file of ``(clip id, captions)`` pairs, in their order.

    ``description``, ``url`` and ``provenance`` (where the captions came from: a file's sha256, the
    clips it was restricted to...) go to ``info``; ``licenses`` are COCO licence objects (``{"id",
    "name", "url"}``). Raises :class:`CocoCaptionError` for a repeated clip, a clip without captions or an empty
    caption: pycocoevalcap would merge, drop or crash on them.
    """
    images: list[dict] = []
    annotations: list[dict] = []
    seen: set[str] = set()
    for n, (clip_id, captions) in enumerate(clips, 1):
        clip_id = _check_id(clip_id, f"clip {n}")
        if clip_id in seen:
            raise CocoCaptionError(f"clip {n}: {clip_id} is listed twice (give each clip once, with all its captions)")
        seen.add(clip_id)
        if isinstance(captions, str) or not captions:
            raise CocoCaptionError(f"clip {n} ({clip_id}): expected a non-empty list of captions, got {captions!r}")
        images.append({"id": clip_id, "video_id": clip_id})
        for caption in captions:
            annotations.append({"id": len(annotations) + 1, "image_id": clip_id, "video_id": clip_id,
                                "caption": _check_caption(caption, f"clip {n} ({clip_id})")})
    if not images:
        raise CocoCaptionError("no clips: a COCO caption file needs at least one clip with a caption")
    info = {"description": description, "url": url, "version": __version__, "contributor": "valor",
            **(provenance or {})}
    return {"info": info, "licenses": list(licenses), "type": CAPTIONS_TYPE, "images": images,
            "annotations": annotations}


def caption_results(predictions: Iterable[tuple[str, str]]) -> list[dict]:
    """The COCO results list of ``(clip id, caption)`` predictions: ``[{"image_id", "video_id", "caption"}]``.

    One caption per clip (pycocoevalcap's BLEU asserts one hypothesis per image); raises
    :class:`CocoCaptionError` otherwise.
    """
    results: list[dict] = []
    seen: set[str] = set()
    for n, (clip_id, caption) in enumerate(predictions, 1):
        clip_id = _check_id(clip_id, f"prediction {n}")
        if clip_id in seen:
            raise CocoCaptionError(f"prediction {n}: a second caption for {clip_id} (one caption per clip)")
        seen.add(clip_id)
        results.append({"image_id": clip_id, "video_id": clip_id,
                        "caption": _check_caption(caption, f"prediction {n} ({clip_id})")})
    return results


def write_coco_json(path: str | Path, data: dict | list) -> None:
    """Write an annotation file or a results list as UTF-8 JSON, whole or not at all."""
    atomic_write_text(path, json.dumps(data, ensure_ascii=False) + "\n")
