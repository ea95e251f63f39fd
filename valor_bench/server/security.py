"""What stands between the network and the evaluator: tokens, CSRF, rate limits, and checks of an upload
that are cheap enough to run before it is accepted.

* Tokens are 256-bit random strings shown once and stored as sha256 (``config.hash_secret``); team tokens
  start with ``vbt_``, the host token with ``vbh_``.
* An ``.npz`` is a zip: each member's declared size and its ``.npy`` header are read from the zip
  directory and the first bytes of the member, never the data. A member that would inflate beyond what
  the phase's matrix can need (zip bomb), an object (pickled) array, or an unknown member is refused
  before anything is decompressed in bulk. ``zipfile`` never returns more than a member's declared size,
  so bounding the declared sizes bounds what reading can cost.
* JSON nesting depth is measured by scanning the bytes (strings skipped), so a ``[[[[...`` file is refused
  without being parsed.
* Messages shown to a team pass through :func:`scrub`, which replaces server paths (store, ground truth)
  by the name the team knows.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from valor_bench.server.config import hash_secret

TEAM_PREFIX, HOST_PREFIX = "vbt_", "vbh_"
NPZ_MEMBERS = ("sim.npy", "text_ids.npy", "video_ids.npy")
MAX_ID_CHARS = 256  # a clip id is ~30 characters; numpy stores each as 4 bytes per character
NPY_HEADER_SLACK = 64 * 1024
JSON_SPECIAL = re.compile(rb'["\\\[\]{}]')


def new_token(prefix: str) -> tuple[str, str]:
    """A fresh token and its stored hash."""
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_secret(token)


def same_secret(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class UploadRefused(ValueError):
    """The upload is refused before it is queued: an HTTP status and one line for the team."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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
    """Refuse a zip bomb, a pickled array or a stray member before the file is read; raises UploadRefused."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UploadRefused(422, f"{name}: not a readable .npz (zip) file ({e})") from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        extra = [n for n in names if n not in NPZ_MEMBERS]
        if extra or len(set(names)) != len(names):
            raise UploadRefused(422, f"{name}: unexpected member {extra[0] if extra else 'repeated'!r}: an AVR .npz "
                                     f"holds exactly {', '.join(NPZ_MEMBERS)}")
        missing = [m for m in NPZ_MEMBERS if m not in names]
        if missing:
            raise UploadRefused(422, f"{name}: missing {', '.join(missing)} (an AVR .npz holds sim, text_ids, video_ids)")
        for info in infos:
            limit = budget.member_limit(info.filename)
            if info.file_size > limit:
                raise UploadRefused(413, f"{name}: {info.filename} would inflate to {info.file_size:,} bytes, more "
                                         f"than a {budget.n_texts:,} x {budget.n_clips:,} submission can need "
                                         f"({limit:,}); refused before reading it")
            try:
                shape, _fortran, dtype = _npy_header(zf, info)
            except (ValueError, EOFError, zipfile.BadZipFile, OSError) as e:
                raise UploadRefused(422, f"{name}: {info.filename} is not a .npy array ({e})") from None
            if dtype.hasobject:
                raise UploadRefused(422, f"{name}: {info.filename} is an object (pickled) array; pickles are never "
                                         "loaded: save ids with np.array(ids, dtype=str)")
            needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if needed > info.file_size:
                raise UploadRefused(422, f"{name}: {info.filename} declares shape {shape} of {dtype} but holds only "
                                         f"{info.file_size:,} bytes")


# ------------------------------------------------------------------------------------------ JSON depth
def json_depth_exceeds(chunks: Iterable[bytes], max_depth: int) -> int | None:
    """The byte offset where nesting first goes deeper than ``max_depth``, or None; strings are skipped.

    Takes the bytes in chunks (one in memory at a time) and stops at the first offence, so a ``[[[[...``
    bomb costs microseconds and a normal submission one regex pass.
    """
    depth, in_string, offset = 0, False, 0
    escaped_at = -1  # absolute offset of the byte a backslash escapes
    for block in chunks:
        for m in JSON_SPECIAL.finditer(block):
            c, at = m.group(), offset + m.start()
            if at == escaped_at:
                continue
            if in_string:
                if c == b"\\":
                    escaped_at = at + 1
                elif c == b'"':
                    in_string = False
                continue
            if c == b'"':
                in_string = True
            elif c in (b"[", b"{"):
                depth += 1
                if depth > max_depth:
                    return at
            elif c in (b"]", b"}"):
                depth -= 1
        offset += len(block)
    return None


def file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(size):
            yield block


# ------------------------------------------------------------------------------------------ rate limit
class RateLimiter:
    """A sliding-window counter per key (token hash or client address), in this process's memory."""

    def __init__(self, requests: int, seconds: float):
        self.requests, self.seconds = requests, seconds
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._last_prune = time.monotonic()

    def check(self, key: str) -> float | None:
        """None when allowed (and counted); else seconds until the next request is allowed."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_prune > self.seconds:
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.seconds}
                self._last_prune = now
            hits = [t for t in self._hits.get(key, []) if t > now - self.seconds]
            if len(hits) >= self.requests:
                self._hits[key] = hits
                return max(0.0, hits[0] + self.seconds - now)
            hits.append(now)
            self._hits[key] = hits
            return None


# --------------------------------------------------------------------------------------------- scrubbing
def scrub(text: str | None, replacements: dict[str, str]) -> str | None:
    """Replace server-side strings (paths) by what the reader may see; longest first."""
    if text is None:
        return None
    for secret in sorted((k for k in replacements if k), key=len, reverse=True):
        text = text.replace(secret, replacements[secret])
    return text
