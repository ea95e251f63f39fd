"""The folder layout the official VALOR code (TXH-mercury/VALOR: ``config/*-valor32k.json``,
``data/data.py``) reads, and its index files::

    OUT/{split}_id.json          JSON list of clip ids (train_id.json, val_id.json, test_id.json)
    OUT/txt_mapper_en.json       {clip id: caption, or a list of captions}
    OUT/capanno_en.json          COCO caption references of the val and test clips (valor_data.release.coco)
    OUT/frames_fps4/{id}/frame_0001.jpg ...      the clip's frames (--fps 4); with --size 360x480:
    OUT/frames_4fps_360*480_jpg/{id}/...         the official configs' frames_1fps_360*480_jpg naming
    OUT/audio_22050hz/{id}.wav   mono 16-bit PCM at 22,050 Hz; a clip without sound has none (the loader
                                 then gives zeros)

What its loader expects, and this layout keeps: clip ids verbatim as folder and file names (with their
dots and a leading ``-``); frame names that sort as strings in frame order (``frame_%04d.jpg``, as its own
extraction script writes them: ``os.listdir`` + ``sort``, then split into N segments); every listed id in
the mapper (``TxtMapper`` indexes it for every clip).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from valor_data.atomic import atomic_write_text
from valor_data.release.coco import caption_annotations, write_coco_json
from valor_data.release.shard_clips import ExportError

AUDIO_SAMPLE_RATE = 22050
AUDIO_DIR = f"audio_{AUDIO_SAMPLE_RATE}hz"
FRAME_PATTERN = "frame_%04d.jpg"  # ffmpeg's image2 pattern; zero-padded, so string order is frame order
MAX_FRAMES = 9999  # frame_10000.jpg would sort before frame_1001.jpg
JPEG_QSCALE = 2  # ffmpeg -q:v, as the official extraction script
MAPPER_NAME = "txt_mapper_en.json"
CAPANNO_NAME = "capanno_en.json"
EVAL_SPLITS = ("val", "test")  # the splits whose references capanno_en.json holds
LOCK_NAME = ".export.lock"


def id_list_name(split: str) -> str:
    """``train`` -> ``train_id.json``: the file the official configs name as ``ids_path``."""
    return f"{split}_id.json"


@dataclass(frozen=True)
class ValorLayout:
    """The frame options that name the frames folder: a rerun with others writes a second folder beside."""

    fps: float = 4.0
    size: tuple[int, int] | None = None  # (height, width), as the official folder name writes it

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ExportError(f"--fps {self.fps}: must be a number above 0")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise ExportError(f"--size {self.size}: expected HEIGHTxWIDTH in pixels, e.g. 360x480")

    @property
    def frames_dir(self) -> str:
        """``frames_fps4`` (the extraction script's name) or ``frames_1fps_360*480_jpg`` (the configs')."""
        if self.size is None:
            return f"frames_fps{self.fps:g}"
        return f"frames_{self.fps:g}fps_{self.size[0]}*{self.size[1]}_jpg"

    def video_filter(self) -> str:
        """ffmpeg's -vf: the frame rate, then the size (width:height for ffmpeg's scale)."""
        rate = f"fps=fps={self.fps:g}"
        return rate if self.size is None else f"{rate},scale={self.size[1]}:{self.size[0]}"


def parse_size(text: str) -> tuple[int, int]:
    """``360x480`` (or ``360*480``) -> (360, 480): height, then width."""
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ExportError(f"--size {text!r}: expected HEIGHTxWIDTH in pixels, e.g. 360x480")
    return int(parts[0]), int(parts[1])


def mapper_entry(captions: Sequence[str]) -> str | list[str]:
    """One caption as a string, several as a list: the two forms ``TxtMapper`` reads."""
    return captions[0] if len(captions) == 1 else list(captions)


def read_mapper(out: Path) -> dict[str, str | list[str]]:
    """The mapper already in OUT (from an export of another split), to be extended; empty when absent."""
    path = out / MAPPER_NAME
    if not path.is_file():
        return {}
    try:
        mapper = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: unreadable ({e}); remove it or choose a new OUT") from None
    if not isinstance(mapper, dict):
        raise ExportError(f"{path}: not a JSON object of clip id -> caption; remove it or choose a new OUT")
    return mapper


def write_index_files(out: Path, ids: Mapping[str, Sequence[str]], captions: Mapping[str, Sequence[str]]) -> list[str]:
    """Write ``{split}_id.json`` for each split of ``ids``, the mapper (OUT's entries kept, this export's
    replacing them) and ``capanno_en.json`` from every val/test id list in OUT. Returns the names written."""
    written = []
    for split, split_ids in ids.items():
        atomic_write_text(out / id_list_name(split), json.dumps(sorted(split_ids), ensure_ascii=False))
        written.append(id_list_name(split))
    mapper = read_mapper(out)
    mapper.update({clip_id: mapper_entry(caps) for clip_id, caps in captions.items()})
    atomic_write_text(out / MAPPER_NAME, json.dumps(dict(sorted(mapper.items())), ensure_ascii=False, indent=0))
    written.append(MAPPER_NAME)
    eval_ids = _eval_ids(out)
    if eval_ids:
        refs = ((i, _as_list(mapper[i])) for i in eval_ids if i in mapper)
        write_coco_json(out / CAPANNO_NAME, caption_annotations(
            refs, description=f"caption references of the {'/'.join(_eval_splits(out))} clips"))
        written.append(CAPANNO_NAME)
    else:  # no val/test clip in OUT: no references, not those of an earlier export
        (out / CAPANNO_NAME).unlink(missing_ok=True)
    return written


def _eval_splits(out: Path) -> list[str]:
    return [s for s in EVAL_SPLITS if (out / id_list_name(s)).is_file()]


def _eval_ids(out: Path) -> list[str]:
    ids: list[str] = []
    for split in _eval_splits(out):
        ids.extend(_read_id_list(out / id_list_name(split)))
    return list(dict.fromkeys(ids))


def _read_id_list(path: Path) -> Iterable[str]:
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: unreadable ({e}); remove it or choose a new OUT") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ExportError(f"{path}: not a JSON list of clip ids; remove it or choose a new OUT")
    return ids


def _as_list(entry: str | list[str]) -> list[str]:
    return [entry] if isinstance(entry, str) else list(entry)
