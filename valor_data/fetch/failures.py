"""Classify downloader and ffmpeg failures into the closed set of manifest reasons (``clip.REASONS``).

yt-dlp relays YouTube's own wording ("Private video. Sign in if you've been granted access...", "Video
unavailable. This video has been removed by the uploader", "Sign in to confirm you’re not a bot"), and
ffmpeg writes its own ("Server returned 404 Not Found", "Stream ends prematurely at ..."). Classifying
text is unavoidable with these tools, so it is done here, once, with rules ordered from the most specific
to the most general, and the real message is always kept next to the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from valor_data.clip import REASONS, TRANSIENT_REASONS, Status

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
MAX_MESSAGE = 2000


class ClipFailure(Exception):
    """A clip that cannot be kept: ``reason`` is one of ``clip.REASONS``, ``message`` the real cause."""

    def __init__(self, reason: Status | str, message: str):
        if reason not in REASONS:
            raise ValueError(f"unknown failure reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = Status(reason)
        self.message = clean_message(message)


def _rules(*pairs: tuple[str, str]) -> list[tuple[Status, re.Pattern[str]]]:
    return [(Status(reason), re.compile(pattern, re.IGNORECASE)) for reason, pattern in pairs]


# First match wins, so the specific wording comes before the general one: "Private video. Sign in if..."
# is private (not login_required), "Video unavailable. This video has been removed by the uploader" is
# removed (not unavailable), "Sign in to confirm you’re not a bot" is rate limiting (not a login).
RULES: list[tuple[Status, re.Pattern[str]]] = _rules(
    ("too_large", r"larger than max-filesize|reached --max-filesize"),
    ("rate_limited", r"confirm you.re not a bot|HTTP Error 429|\b429 Too Many Requests|Too Many Requests"
                     r"|rate-limited|This content isn.t available, try again later"),
    ("private", r"Private video|This video is private|video has been made private"),
    ("removed", r"removed by the (uploader|user)|account associated with this video has been terminated"
                r"|account has been terminated|copyright claim|copyright infringement"
                r"|removed for violating|violat\w+ YouTube.s (Terms of Service|policy|Community Guidelines)"
                r"|video has been removed"),
    ("geo_blocked", r"not made this video available in your country|available in your country"
                    r"|not available from your location|blocked it in your country|geo.?restrict"),
    ("login_required", r"confirm your age|age.restricted|inappropriate for some users|members.only"
                       r"|Join this channel|Premium members|requires payment|only available for registered users"
                       r"|Login details are needed|Sign in"),
    ("timeout", r"timed out|time.?out\b|TimeoutError|Operation timeout"),
    ("unavailable", r"Video unavailable|This video is (not|no longer) available|This video does not exist"
                    r"|HTTP Error 404|HTTP Error 410|Server returned 404|404 Not Found"
                    r"|Requested format is not available|No video formats found|live event will begin"
                    r"|Premieres in|Incomplete YouTube ID|Unsupported URL|is not a valid URL"),
    ("network", r"HTTP Error 5\d\d|Server returned 5\d\d|5XX Server Error|HTTP Error 403|Server returned 403"
                r"|4XX Client Error|Connection (refused|reset|aborted)|RemoteDisconnected"
                r"|Remote end closed connection|IncompleteRead|Stream ends prematurely|Input/output error"
                r"|Temporary failure in name resolution|Name or service not known|nodename nor servname"
                r"|Network is unreachable|No route to host|EOF occurred in violation of protocol"
                r"|Unable to connect to proxy|Failed to resolve|getaddrinfo failed|Broken pipe"
                r"|Did not get any data blocks|Unable to download webpage|unable to download video data"),
    ("decode_error", r"Invalid data found when processing input|moov atom not found"
                     r"|could not find codec parameters|Invalid NAL unit|error while decoding|corrupt"
                     r"|no frame!"),
)


def clean_message(message: str) -> str:
    """Drop yt-dlp's ``ERROR:`` prefix and colour codes, collapse whitespace, bound the length."""
    text = _ANSI_RE.sub("", str(message)).strip()
    if text.startswith("ERROR:"):
        text = text[len("ERROR:"):].strip()
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def classify(message: str, default: Status | None = Status.ERROR) -> Status | None:
    """The reason for a downloader/ffmpeg message; ``default`` when no rule matches."""
    for reason, pattern in RULES:
        if pattern.search(message):
            return reason
    return default


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__]
        exc_info = getattr(e, "exc_info", None)  # yt-dlp's DownloadError keeps the original here
        if isinstance(exc_info, tuple) and len(exc_info) > 1 and isinstance(exc_info[1], BaseException):
            stack.append(exc_info[1])


def failure_from_exception(exc: BaseException, default: Status = Status.ERROR) -> ClipFailure:
    """Turn a downloader exception into a :class:`ClipFailure`, by type where it tells, else by message."""
    if isinstance(exc, ClipFailure):
        return exc
    message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    for e in _chain(exc):
        name = type(e).__name__
        if name == "GeoRestrictedError":
            return ClipFailure(Status.GEO_BLOCKED, message)
        if isinstance(e, TimeoutError):  # socket.timeout is an alias
            return ClipFailure(Status.TIMEOUT, message)
        if isinstance(e, ConnectionError):
            return ClipFailure(Status.NETWORK, message)
    return ClipFailure(classify(message, default), message)


def ffmpeg_error_text(log: str, limit: int = 6) -> str:
    """The meaningful part of an ffmpeg log or report: no command line or banner; the first lines that
    name a known cause (the root cause comes early, e.g. "Stream ends prematurely") plus the last lines."""
    lines = []
    skip_next = False
    for line in log.splitlines():
        if skip_next:
            skip_next = False
            continue
        if line.startswith("Command line:"):
            skip_next = True  # the report's next line is the command itself
            continue
        if line.strip() and not line.startswith(("Report written to", "  ", "ffmpeg version", "Input #", "Output #")):
            lines.append(line.strip())
    causes = [line for line in lines if classify(line, default=None) is not None][:2]
    tail = [line for line in lines[-limit:] if line not in causes]
    return " | ".join(causes + tail)


def reasons_table() -> str:
    """The docs' table of manifest statuses (docs/reference/statuses.md), generated from ``clip.REASONS`` (a test keeps them equal)."""
    lines = ["| status | meaning | retried |", "|---|---|---|",
             "| `ok` | normalised video and audio are in OUT | |"]
    lines += [f"| `{k}` | {v} | {'yes' if k in TRANSIENT_REASONS else ''} |" for k, v in REASONS.items()]
    return "\n".join(lines)
