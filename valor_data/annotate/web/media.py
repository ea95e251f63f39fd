"""A clip's video and sound as one MP4 for the browser, straight from where the clip lives.

A campaign's clips stay where they are: members of a shard tar (``clips.media`` holds the tar's path and
each member's data offset and size, from the shard's index.parquet) or the two files of a fetch directory.
The video (H.264 mp4) and the sound (FLAC) are separate files, so one ``<video>`` element can only play
them in sync once they are one file: ffmpeg stream-copies both into one MP4 (no re-encode; a 10 s clip
takes ~60 ms), reading a tar member in place through its ``subfile`` protocol. The result is kept in a
small in-memory LRU (a writer seeks and replays the clip many times) and served with HTTP Range, which
Chromium needs to seek.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response

CACHE_BYTES = 256 * 1024 * 1024
REMUX_TIMEOUT_S = 60
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class MediaError(Exception):
    """The clip's media cannot be read or remuxed (one line naming what and why)."""


@dataclass(frozen=True)
class Member:
    """Bytes ``[offset, offset + size)`` of ``path`` (a tar member's data), or the whole file (size -1)."""

    path: str
    offset: int = 0
    size: int = -1

    def ffmpeg_input(self) -> str:
        if self.size < 0:
            return f"file:{self.path}"
        if ",," in self.path:
            raise MediaError(f"{self.path}: a path with ',,' cannot be read through ffmpeg's subfile protocol")
        return f"subfile,,start,{self.offset},end,{self.offset + self.size},,:{self.path}"


@dataclass(frozen=True)
class ClipMedia:
    video: Member
    audio: Member


def parse_media(spec: dict) -> ClipMedia:
    """A clip's ``media`` (``clips.media``): ``{"kind": "tar", "path", "video": [offset, size], "audio":
    [offset, size]}`` or ``{"kind": "files", "video": PATH, "audio": PATH}``; MediaError names what is wrong."""
    try:
        if spec["kind"] == "tar":
            path = str(spec["path"])
            members = [Member(path, int(spec[k][0]), int(spec[k][1])) for k in ("video", "audio")]
            if any(m.offset < 0 or m.size <= 0 for m in members):
                raise ValueError("negative offset or empty member")
            return ClipMedia(*members)
        if spec["kind"] == "files":
            return ClipMedia(Member(str(spec["video"])), Member(str(spec["audio"])))
        raise ValueError(f"unknown kind {spec['kind']!r}")
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise MediaError(f"clip media {json.dumps(spec)[:200]} is unusable ({e})") from None


def remux(media: ClipMedia) -> bytes:
    """The video and audio members stream-copied into one faststart MP4 (FLAC in MP4 is 'experimental' to
    ffmpeg 5.1, and Chromium plays it); MediaError with ffmpeg's last line when that fails."""
    for m in (media.video, media.audio):
        if not Path(m.path).is_file():
            raise MediaError(f"{m.path}: media file not found")
    with tempfile.TemporaryDirectory(prefix="valor-media-") as tmp:
        out = Path(tmp) / "clip.mp4"  # +faststart rewrites the file: it needs a seekable output, not a pipe
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", media.video.ffmpeg_input(), "-i", media.audio.ffmpeg_input(),
               "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-strict", "experimental",
               "-movflags", "+faststart", "-f", "mp4", str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=REMUX_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise MediaError(f"remuxing {media.video.path} took over {REMUX_TIMEOUT_S} s") from None
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise MediaError(f"ffmpeg could not remux {media.video.path}: {last}")
        return out.read_bytes()


class MediaCache:
    """Remuxed clips by key, least recently used dropped past ``max_bytes``; one remux per key at a time.

    ``prefetch`` starts a clip's remux in the background when its page is served, so the player's first
    request usually finds it made (or waits for the one remux under way)."""

    def __init__(self, max_bytes: int = CACHE_BYTES, prefetchers: int = 2):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._making: dict[str, threading.Lock] = {}
        self._pool = ThreadPoolExecutor(prefetchers, thread_name_prefix="remux")

    def prefetch(self, media: ClipMedia) -> Future:
        """Remux ``media`` in the background unless it is cached; a failure surfaces at the real request."""
        return self._pool.submit(self.get, media)

    def get(self, media: ClipMedia) -> bytes:
        key = repr(media)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                data = remux(media)
                with self._lock:
                    self._keep(key, data)
            finally:
                with self._lock:
                    self._making.pop(key, None)
            return data

    def _keep(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        self._items[key] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)


def byte_range(header: str | None, length: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte of a single ``Range: bytes=...`` header, None for the whole body
    (no header, or a form this server answers with the whole body: several ranges, other units); ValueError
    when the range lies outside the body (answered 416)."""
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, length - n), length - 1
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else length - 1
    if first >= length or last < first:
        raise ValueError(f"range {header!r} outside {length} bytes")
    return first, min(last, length - 1)


def ranged_response(data: bytes, range_header: str | None, media_type: str = "video/mp4") -> Response:
    """``data`` whole (200) or the requested part (206), or 416 for a range outside it."""
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=600"}
    try:
        span = byte_range(range_header, len(data))
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{len(data)}"})
    if span is None:
        return Response(data, media_type=media_type, headers=headers)
    first, last = span
    return Response(data[first:last + 1], status_code=206, media_type=media_type,
                    headers={**headers, "Content-Range": f"bytes {first}-{last}/{len(data)}"})
