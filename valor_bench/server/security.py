"""Checks of an upload cheap enough to run before it is accepted, and what a team may read of server messages.

* An ``.npz`` is a zip: each member's declared size and its ``.npy`` header are read from the zip
  directory and the first bytes of the member, never the data. A member that would inflate beyond what
  the phase's matrix can need (zip bomb), an object (pickled) array, or an unknown member is refused
  before anything is decompressed in bulk. ``zipfile`` never returns more than a member's declared size,
  so bounding the declared sizes bounds what reading can cost.
* Messages shown to a team pass through :func:`scrub`, which replaces server paths (store, ground truth)
  by the name the team knows.

Tokens, CSRF, rate limits and JSON nesting depth are the web kit's (``valor_data.web``).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from valor_data.web.errors import HttpError

TEAM_PREFIX, HOST_PREFIX = "vbt_", "vbh_"  # team tokens and the host token, told apart at a glance
NPZ_MEMBERS = ("sim.npy", "text_ids.npy", "video_ids.npy")
MAX_ID_CHARS = 256  # a clip id is ~30 characters; numpy stores each as 4 bytes per character
NPY_HEADER_SLACK = 64 * 1024


# ------------------------------------------------------------------------------------------- npz checks
@dataclass(frozen=True)
class MatrixBudget:
    """The most an AVR matrix of this phase can need: its texts x its clips, in float64 at worst."""

    n_texts: int
    n_clips: int

    def member_limit(self, member: str) -> int:
        if member == "sim.npy":
            return self.n_texts * self.n_clips * 8 + NPY_HEADER_SLACK
        n = self.n_texts if member == "text_ids.npy" else self.n_clips
        return n * MAX_ID_CHARS * 4 + NPY_HEADER_SLACK


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], bool, np.dtype]:
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
        raise ValueError(f"unsupported .npy version {version}")


def check_npz(path: Path, name: str, budget: MatrixBudget) -> None:
    """Refuse a zip bomb, a pickled array or a stray member before the file is read; raises HttpError."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise HttpError(422, f"{name}: not a readable .npz (zip) file ({e})") from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        extra = [n for n in names if n not in NPZ_MEMBERS]
        if extra or len(set(names)) != len(names):
            raise HttpError(422, f"{name}: unexpected member {extra[0] if extra else 'repeated'!r}: an AVR .npz "
                                     f"holds exactly {', '.join(NPZ_MEMBERS)}")
        missing = [m for m in NPZ_MEMBERS if m not in names]
        if missing:
            raise HttpError(422, f"{name}: missing {', '.join(missing)} (an AVR .npz holds sim, text_ids, video_ids)")
        for info in infos:
            limit = budget.member_limit(info.filename)
            if info.file_size > limit:
                raise HttpError(413, f"{name}: {info.filename} would inflate to {info.file_size:,} bytes, more "
                                         f"than a {budget.n_texts:,} x {budget.n_clips:,} submission can need "
                                         f"({limit:,}); refused before reading it")
            try:
                shape, _fortran, dtype = _npy_header(zf, info)
            except (ValueError, EOFError, zipfile.BadZipFile, OSError) as e:
                raise HttpError(422, f"{name}: {info.filename} is not a .npy array ({e})") from None
            if dtype.hasobject:
                raise HttpError(422, f"{name}: {info.filename} is an object (pickled) array; pickles are never "
                                         "loaded: save ids with np.array(ids, dtype=str)")
            needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if needed > info.file_size:
                raise HttpError(422, f"{name}: {info.filename} declares shape {shape} of {dtype} but holds only "
                                         f"{info.file_size:,} bytes")


# --------------------------------------------------------------------------------------------- scrubbing
def scrub(text: str | None, replacements: dict[str, str]) -> str | None:
    """Replace server-side strings (paths) by what the reader may see; longest first."""
    if text is None:
        return None
    for secret in sorted((k for k in replacements if k), key=len, reverse=True):
        text = text.replace(secret, replacements[secret])
    return text
