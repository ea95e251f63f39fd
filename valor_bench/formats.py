"""Reading submissions and their metadata. Structure only: checks against the ground truth live in
``validate.py``.

* AVC: JSON ``[{"video_id": ..., "caption": ...}]`` (what the VALOR code writes) or JSONL, one object a line.
* AVR: ``.npz`` with ``sim`` [n_text, n_video] (floating point, float32 preferred), ``text_ids`` [n_text]
  and ``video_ids`` [n_video] (numpy string arrays), or a ranking JSON ``{"<text id>": [video ids, best
  first]}``. ``sim`` is read in row blocks straight out of the zip member (stored or deflated alike), so
  memory stays at one block whatever the matrix size; a Fortran-ordered ``sim`` (e.g. saved as ``S.T``)
  cannot be read by rows and is loaded whole: save ``np.ascontiguousarray(sim)`` instead.
* Metadata: the JSON sidecar next to the submission, named like it with ``.meta.json`` in place of its
  extension (``run1.npz`` -> ``run1.meta.json``), and/or the CLI options; a CLI option overrides the
  sidecar's field of the same name.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

MODALITIES = ("av", "v", "a")
META_FIELDS = ("model_name", "modality", "external_data", "url")
MAX_JSON_BYTES = 512 * 1024**2  # a JSON submission is parsed in memory


class SubmissionFormatError(ValueError):
    """The file cannot be read as the format at all (one fatal problem)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------------------------------------- metadata
@dataclass
class Metadata:
    model_name: str | None = None
    modality: str | None = None  # av | v | a
    external_data: str | None = None  # free text: what was used besides the benchmark's train split
    url: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def sidecar_path(submission: str | Path) -> Path:
    p = Path(submission)
    return p.with_name(p.stem + ".meta.json") if p.suffix else p.with_name(p.name + ".meta.json")


def read_metadata(submission: str | Path, overrides: dict[str, str | None] | None = None) -> tuple[Metadata, list[str]]:
    """Sidecar fields, then non-None CLI ``overrides`` on top. Returns the metadata and problems found."""
    values: dict[str, str | None] = {}
    problems: list[str] = []
    side = sidecar_path(submission)
    if side.is_file():
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            data = None
            problems.append(f"{side}: invalid JSON ({e})")
        if data is not None and not isinstance(data, dict):
            problems.append(f"{side}: expected a JSON object with {', '.join(META_FIELDS)}")
        elif isinstance(data, dict):
            for key, value in data.items():
                if key not in META_FIELDS:
                    problems.append(f"{side}: unknown field {key!r} (known: {', '.join(META_FIELDS)})")
                elif value is not None and not isinstance(value, str | bool):
                    problems.append(f"{side}: field {key!r} must be a string, got {type(value).__name__}")
                else:
                    values[key] = value if value is None or isinstance(value, str) else str(value).lower()
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    meta = Metadata(**values)
    if meta.modality is not None and meta.modality not in MODALITIES:
        problems.append(f"modality {meta.modality!r} is not one of {', '.join(MODALITIES)}")
    return meta, problems


# --------------------------------------------------------------------------------------------------- AVC
@dataclass
class CaptionEntry:
    where: str  # "record 3" / "line 3", for messages
    video_id: object
    caption: object


@dataclass
class AvcSubmission:
    entries: list[CaptionEntry]
    bad: list[tuple[str, str]] = field(default_factory=list)  # (where, what is wrong)


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise SubmissionFormatError(
            "too_large", f"{path}: {size / 1024**2:.0f} MiB is over the {MAX_JSON_BYTES // 1024**2} MiB limit"
        )


def read_avc(path: str | Path) -> AvcSubmission:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".jsonl"):
        raise SubmissionFormatError("format", f"{path}: an AVC submission is a .json or .jsonl file")
    _check_size(path)
    records: list[tuple[str, object]] = []
    bad: list[tuple[str, str]] = []
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            records.append((f"line {n}", json.loads(line)))
                        except json.JSONDecodeError as e:
                            bad.append((f"line {n}", f"invalid JSON ({e.msg})"))
        else:
            with path.open(encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, list):
                raise SubmissionFormatError(
                    "format", f'{path}: expected a JSON list of {{"video_id", "caption"}} objects'
                )
            records = [(f"record {n}", rec) for n, rec in enumerate(data, 1)]
    except json.JSONDecodeError as e:
        raise SubmissionFormatError("format", f"{path}: invalid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise SubmissionFormatError("format", f"{path}: not UTF-8 text ({e.reason})") from None
    entries = []
    for where, rec in records:
        if not isinstance(rec, dict) or "video_id" not in rec or "caption" not in rec:
            bad.append((where, 'expected an object with "video_id" and "caption"'))
            continue
        entries.append(CaptionEntry(where, rec["video_id"], rec["caption"]))
    return AvcSubmission(entries, bad)


# ------------------------------------------------------------------------------------ AVR: the matrix
class SimMatrix:
    """A [n_text, n_video] score matrix read in row blocks, from memory or from an ``.npz`` member."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, array: np.ndarray | None = None,
                 path: Path | None = None, member: str = "sim.npy", fortran: bool = False):
        self.shape, self.dtype, self._array = tuple(shape), np.dtype(dtype), array
        self.path, self.member, self.fortran = path, member, fortran

    @classmethod
    def from_array(cls, array: np.ndarray) -> SimMatrix:
        return cls(array.shape, array.dtype, array=array)

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    @property
    def n_cols(self) -> int:
        return self.shape[1]

    def rows_per_block(self, block_bytes: int) -> int:
        return max(1, block_bytes // max(1, self.n_cols * self.dtype.itemsize))

    def blocks(self, block_bytes: int = 64 * 1024**2) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, block)`` in order; each block is at most ``block_bytes`` (at least one row)."""
        rows = self.rows_per_block(block_bytes)
        if self._array is None and self.fortran:
            # Column-major data cannot be streamed by rows: load it once and keep it.
            with np.load(self.path, allow_pickle=False) as z:
                self._array = np.ascontiguousarray(z[self.member.removesuffix(".npy")])
        if self._array is not None:
            for start in range(0, self.n_rows, rows):
                yield start, self._array[start : start + rows]
            return
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
            _read_npy_header(f)
            row_bytes = self.n_cols * self.dtype.itemsize
            for start in range(0, self.n_rows, rows):
                n = min(rows, self.n_rows - start)
                buf = f.read(n * row_bytes)
                if len(buf) != n * row_bytes:
                    raise SubmissionFormatError("format", f"{self.path}: {self.member} is truncated")
                yield start, np.frombuffer(buf, dtype=self.dtype).reshape(n, self.n_cols)


def _read_npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise SubmissionFormatError("format", f"unsupported .npy format version {version} (save with numpy's np.savez)")


@dataclass
class AvrMatrixSubmission:
    sim: SimMatrix
    text_ids: list[str]
    video_ids: list[str]
    notes: list[str] = field(default_factory=list)


def _load_ids(zf: zipfile.ZipFile, path: Path, name: str) -> list[str]:
    with zf.open(f"{name}.npy") as f:
        try:
            arr = np.lib.format.read_array(f, allow_pickle=False)
        except ValueError:
            raise SubmissionFormatError(
                "dtype", f"{path}: {name} is an object (pickled) array: save it as np.array(ids, dtype=str)"
            ) from None
    if arr.ndim != 1:
        raise SubmissionFormatError("shape", f"{path}: {name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "S":
        try:
            return [x.decode("utf-8") for x in arr.tolist()]
        except UnicodeDecodeError:
            raise SubmissionFormatError("dtype", f"{path}: {name} holds bytes that are not UTF-8") from None
    if arr.dtype.kind != "U":
        raise SubmissionFormatError("dtype", f"{path}: {name} must be a string array, got dtype {arr.dtype}")
    return arr.tolist()


def read_avr_matrix(path: str | Path) -> AvrMatrixSubmission:
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SubmissionFormatError("format", f"{path}: not a readable .npz file ({e})") from None
    with zf:
        names = set(zf.namelist())
        missing = [m for m in ("sim", "text_ids", "video_ids") if f"{m}.npy" not in names]
        if missing:
            raise SubmissionFormatError(
                "format", f"{path}: missing array(s) {', '.join(missing)} (expected sim, text_ids, video_ids)"
            )
        text_ids = _load_ids(zf, path, "text_ids")
        video_ids = _load_ids(zf, path, "video_ids")
        with zf.open("sim.npy") as f:
            try:
                shape, fortran, dtype = _read_npy_header(f)
            except ValueError as e:
                raise SubmissionFormatError("format", f"{path}: sim.npy has a broken header ({e})") from None
    if len(shape) != 2:
        raise SubmissionFormatError("shape", f"{path}: sim must be 2-D [n_text, n_video], got shape {shape}")
    if dtype.kind != "f":
        raise SubmissionFormatError("dtype", f"{path}: sim must be floating point (float32), got dtype {dtype}")
    sub = AvrMatrixSubmission(SimMatrix(shape, dtype, path=path, fortran=fortran), text_ids, video_ids)
    if fortran:
        sub.notes.append("sim is Fortran-ordered, so it was loaded whole; save np.ascontiguousarray(sim) to stream it")
    if dtype != np.float32:
        sub.notes.append(f"sim is {dtype}, scored in its own precision (float32 is the documented format)")
    return sub


# ----------------------------------------------------------------------------------- AVR: ranking JSON
@dataclass
class AvrRankingSubmission:
    rankings: dict[str, list[str]]
    duplicate_keys: list[str] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)  # (query key, what is wrong)


def read_avr_ranking(path: str | Path) -> AvrRankingSubmission:
    path = Path(path)
    _check_size(path)
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in items:
            if k in out:
                duplicates.append(k)
            out[k] = v
        return out

    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise SubmissionFormatError("format", f"{path}: invalid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise SubmissionFormatError("format", f"{path}: not UTF-8 text ({e.reason})") from None
    if not isinstance(data, dict):
        raise SubmissionFormatError("format", f'{path}: expected a JSON object {{"<text id>": [video ids]}}')
    rankings: dict[str, list[str]] = {}
    bad: list[tuple[str, str]] = []
    for key, value in data.items():
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            bad.append((key, "ranking must be a list of video id strings"))
            continue
        rankings[key] = value
    return AvrRankingSubmission(rankings, duplicates, bad)


def avr_kind(path: str | Path) -> str:
    """``matrix`` for .npz, ``ranking`` for .json; the extension decides, nothing is sniffed."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return "matrix"
    if suffix == ".json":
        return "ranking"
    raise SubmissionFormatError("format", f"{path}: an AVR submission is a .npz matrix or a .json ranking")
