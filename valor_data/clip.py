"""The one data contract: clip ids, sample keys, clip references and manifest rows.

Every other module imports these definitions instead of re-parsing ids or re-declaring columns.

* Clip id (VALOR's own form): ``{ytid}_{start:.3f}_{end:.3f}``, e.g. ``x-2Abohj8VY_30.000_40.000``.
* Sample key (inside shards): ``{ytid}_{start_ms}_{end_ms}``, e.g. ``x-2Abohj8VY_30000_40000``. It has
  no dots because webdataset treats everything before the first dot of a member name as the key.
* YouTube ids are 11 chars of ``[A-Za-z0-9_-]``; they may contain ``_`` (so ids are parsed with a right
  split) and may start with ``-`` (so never pass one bare on a command line).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum

import pyarrow as pa

YTID_RE = re.compile(r"^[A-Za-z0-9_-]{11}$")
_NUM_RE = re.compile(r"^\d+(\.\d+)?$")
_MS_RE = re.compile(r"^\d+$")


class InvalidClip(ValueError):
    """A clip id, sample key or (ytid, start, end) triple that breaks the contract."""


def validate_ytid(ytid: str) -> str:
    if not isinstance(ytid, str) or not YTID_RE.match(ytid):
        raise InvalidClip(f"invalid YouTube id {ytid!r}: expected 11 characters of [A-Za-z0-9_-]")
    return ytid


def _to_ms(seconds: float, what: str) -> int:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise InvalidClip(f"invalid {what} time {seconds!r}: not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidClip(f"invalid {what} time {seconds!r}: must be a finite number >= 0")
    return round(value * 1000)


@dataclass(frozen=True, order=True)
class ClipRef:
    """One clip: a YouTube id and a segment in whole milliseconds (the precision of clip ids).

    ``labels`` are AudioSet label mids, ``captions`` any captions that came with the input. ``source`` and
    ``line`` say where the clip was read from, for error messages.
    """

    ytid: str
    start_ms: int
    end_ms: int
    labels: tuple[str, ...] = field(default=(), compare=False)
    captions: tuple[str, ...] = field(default=(), compare=False)
    source: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        validate_ytid(self.ytid)
        if not (isinstance(self.start_ms, int) and isinstance(self.end_ms, int)):
            raise InvalidClip(f"segment of {self.ytid!r} must be whole milliseconds")
        if not 0 <= self.start_ms < self.end_ms:
            raise InvalidClip(
                f"invalid segment {self.start_ms / 1000:.3f}-{self.end_ms / 1000:.3f} of {self.ytid!r}: "
                "need 0 <= start < end"
            )

    @classmethod
    def from_seconds(cls, ytid: str, start: float, end: float, **extra) -> ClipRef:
        return cls(ytid, _to_ms(start, "start"), _to_ms(end, "end"), **extra)

    @classmethod
    def from_clip_id(cls, clip_id: str, **extra) -> ClipRef:
        ytid, start, end = _split3(clip_id, "clip id")
        if not (_NUM_RE.match(start) and _NUM_RE.match(end)):
            raise InvalidClip(f"invalid clip id {clip_id!r}: expected {{ytid}}_{{start}}_{{end}} in seconds")
        return cls.from_seconds(ytid, float(start), float(end), **extra)

    @classmethod
    def from_key(cls, key: str, **extra) -> ClipRef:
        ytid, start, end = _split3(key, "sample key")
        if not (_MS_RE.match(start) and _MS_RE.match(end)):
            raise InvalidClip(f"invalid sample key {key!r}: expected {{ytid}}_{{start_ms}}_{{end_ms}}")
        return cls(ytid, int(start), int(end), **extra)

    @property
    def start(self) -> float:
        return self.start_ms / 1000

    @property
    def end(self) -> float:
        return self.end_ms / 1000

    @property
    def duration(self) -> float:
        return (self.end_ms - self.start_ms) / 1000

    @property
    def clip_id(self) -> str:
        return f"{self.ytid}_{self.start_ms // 1000}.{self.start_ms % 1000:03d}_{self.end_ms // 1000}.{self.end_ms % 1000:03d}"

    @property
    def key(self) -> str:
        return f"{self.ytid}_{self.start_ms}_{self.end_ms}"

    @property
    def youtube_url(self) -> str:
        return f"https://www.youtube.com/watch?v={self.ytid}"


def _split3(text: str, what: str) -> tuple[str, str, str]:
    if not isinstance(text, str):
        raise InvalidClip(f"invalid {what} {text!r}: not a string")
    parts = text.rsplit("_", 2)
    if len(parts) != 3:
        raise InvalidClip(f"invalid {what} {text!r}: expected {{ytid}}_{{start}}_{{end}}")
    return parts[0], parts[1], parts[2]


def key_to_clip_id(key: str) -> str:
    return ClipRef.from_key(key).clip_id


# --------------------------------------------------------------------------------------------------
# Manifest statuses: a closed set. Every clip ends with exactly one of these.
# --------------------------------------------------------------------------------------------------
class Status(str, Enum):
    """A manifest row's status: ``ok`` or one failure reason. A ``str`` subclass, so the manifest stores
    its text and ``Status.NETWORK == "network"``; ``Status("nope")`` raises ValueError."""

    OK = "ok"
    INVALID_ID = "invalid_id"
    UNAVAILABLE = "unavailable"
    PRIVATE = "private"
    REMOVED = "removed"
    GEO_BLOCKED = "geo_blocked"
    LOGIN_REQUIRED = "login_required"
    RATE_LIMITED = "rate_limited"
    NETWORK = "network"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    TOO_LONG = "too_long"
    DECODE_ERROR = "decode_error"
    NO_VIDEO = "no_video"
    NO_AUDIO = "no_audio"
    TOO_SHORT = "too_short"
    TRUNCATED = "truncated"
    GAP = "gap"
    SILENT = "silent"
    FROZEN = "frozen"
    BLACK = "black"
    FFMPEG_ERROR = "ffmpeg_error"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__

    @property
    def transient(self) -> bool:
        """Worth retrying: the source may answer next time."""
        return self in TRANSIENT_REASONS


OK = Status.OK
REASONS: dict[Status, str] = {
    Status.INVALID_ID: "the input row is not a valid clip (bad YouTube id, or not 0 <= start < end)",
    Status.UNAVAILABLE: "the video is unavailable (deleted, never existed, or 404 on a mirror/local dir)",
    Status.PRIVATE: "the video is private",
    Status.REMOVED: "removed for a copyright claim or a terms-of-service violation, or the account was closed",
    Status.GEO_BLOCKED: "not available in the downloader's country",
    Status.LOGIN_REQUIRED: "needs sign-in (age-restricted or members-only); pass --cookies",
    Status.RATE_LIMITED: "the source throttled us (HTTP 429, 'confirm you're not a bot'); retried, then given up",
    Status.NETWORK: "connection reset/refused, DNS failure, truncated body or HTTP 5xx; retried, then given up",
    Status.TIMEOUT: "the socket or the whole download timed out; retried, then given up",
    Status.TOO_LARGE: "the file is bigger than --max-filesize",
    Status.TOO_LONG: "the source video is longer than --max-duration",
    Status.DECODE_ERROR: "the downloaded bytes cannot be decoded (corrupt or not a media file)",
    Status.NO_VIDEO: "no video stream",
    Status.NO_AUDIO: "no audio stream",
    Status.TOO_SHORT: "the clip is shorter than --min-duration",
    Status.TRUNCATED: "the source ends before the segment does, or a normalised stream does not last the segment "
                      "(video: one frame, audio: 20 ms); the message says which and where",
    Status.GAP: "the decoder produced no source frame for a stretch of the segment (a hole in the source's video, or "
                "decoding that starts late): a held frame would fill it; the message gives the seconds",
    Status.SILENT: "audio RMS below --silence-db",
    Status.FROZEN: "the video is frozen: no part of the picture changes by --frozen-diff, in brightness or colour, "
                   "between any two sampled frames",
    Status.BLACK: "the video is black: --black-share of the pixels of every sampled frame are dark",
    Status.FFMPEG_ERROR: "ffmpeg failed to normalise a clip that probed as valid",
    Status.ERROR: "an unexpected error (a bug): the message keeps the exception",
}
STATUSES: tuple[Status, ...] = tuple(Status)
TRANSIENT_REASONS = frozenset({Status.RATE_LIMITED, Status.NETWORK, Status.TIMEOUT})

MANIFEST_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("key", pa.string()),
        ("ytid", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("labels", pa.list_(pa.string())),
        ("captions", pa.list_(pa.string())),
        ("source", pa.string()),  # input file:line the clip came from
        ("status", pa.string()),  # "ok" or one of REASONS
        ("message", pa.string()),  # the real downloader/ffmpeg message for failures
        ("attempts", pa.int32()),
        ("download_s", pa.float64()),
        ("process_s", pa.float64()),
        ("video_bytes", pa.int64()),
        ("audio_bytes", pa.int64()),
        ("video_path", pa.string()),  # relative to the fetch output dir
        ("audio_path", pa.string()),
        ("probe", pa.string()),  # JSON: duration, fps, size, codecs, rms_db, ...
        ("shard", pa.string()),  # filled in by `shard`
    ]
)
