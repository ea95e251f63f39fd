"""Failure classification against the real wording of yt-dlp, YouTube (relayed by yt-dlp) and ffmpeg."""

from __future__ import annotations

import pytest
from yt_dlp.utils import DownloadError as YtDownloadError
from yt_dlp.utils import ExtractorError
from yt_dlp.utils import GeoRestrictedError as YtGeo

from valor_data.clip import REASONS, TRANSIENT_REASONS
from valor_data.fetch.failures import (
    RULES,
    ClipFailure,
    classify,
    clean_message,
    failure_from_exception,
    ffmpeg_error_text,
)

LOGIN_HINT = ("Use --cookies-from-browser or --cookies for the authentication. See  "
              "https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually "
              "pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  "
              "for tips on effectively exporting YouTube cookies")

# Messages as yt-dlp prints them (ERROR: [extractor] id: reason), collected from yt-dlp's source and
# issue reports.
REAL_MESSAGES = [
    (f"ERROR: [youtube] tpUr8xVxj-w: Sign in to confirm you\u2019re not a bot. {LOGIN_HINT}", "rate_limited"),
    ("ERROR: [youtube] abcdefghijk: Sign in to confirm you're not a bot. This helps protect our community. "
     "Learn more", "rate_limited"),
    ("ERROR: [youtube] abcdefghijk: Private video. Sign in if you've been granted access to this video. "
     f"{LOGIN_HINT}", "private"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is private", "private"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable", "unavailable"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is not available", "unavailable"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video has been removed by the uploader", "removed"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is no longer available because the YouTube "
     "account associated with this video has been terminated.", "removed"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is no longer available due to a copyright "
     "claim by Some Label", "removed"),
    ("ERROR: [youtube] Saix8wDp2iA: This video has been removed for violating YouTube's Terms of Service",
     "removed"),
    ("ERROR: [youtube] abcdefghijk: This video has been removed for violating YouTube's policy on hate speech.",
     "removed"),
    ("ERROR: [youtube] abcdefghijk: The uploader has not made this video available in your country. This "
     "video is available in US.", "geo_blocked"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. The uploader has not made this video available in "
     "your country", "geo_blocked"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video contains content from SME, who has blocked "
     "it in your country on copyright grounds", "geo_blocked"),
    ("ERROR: [generic] abc: This video is not available from your location due to geo restriction",
     "geo_blocked"),
    (f"ERROR: [youtube] abcdefghijk: Sign in to confirm your age. This video may be inappropriate for some "
     f"users. {LOGIN_HINT}", "login_required"),
    ("ERROR: [youtube] abcdefghijk: Join this channel to get access to members-only content like this video, "
     "and other exclusive perks.", "login_required"),
    ("ERROR: [youtube] abcdefghijk: This video is only available to Music Premium members", "login_required"),
    ("ERROR: [youtube] abcdefghijk: This live event will begin in a few moments.", "unavailable"),
    ("ERROR: [youtube] 9rdJJMAd-PA: Requested format is not available. Use --list-formats for a list of "
     "available formats", "unavailable"),
    ("ERROR: [youtube] abcdefghijk: This content isn't available, try again later. The current session has "
     "been rate-limited by YouTube for up to an hour.", "rate_limited"),
    ("ERROR: [youtube] abcdefghijk: Unable to download API page: HTTP Error 429: Too Many Requests (caused by "
     "<HTTPError 429: Too Many Requests>)", "rate_limited"),
    ("ERROR: [generic] f404: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: "
     "Not Found>)", "unavailable"),
    ("ERROR: [generic] x: Unable to download webpage: HTTP Error 500: Internal Server Error (caused by "
     "<HTTPError 500: Internal Server Error>)", "network"),
    ("ERROR: [generic] x: Unable to download webpage: HTTP Error 503: Service Unavailable", "network"),
    ("ERROR: unable to download video data: HTTP Error 403: Forbidden", "network"),
    ("ERROR: [generic] x: Unable to download webpage: timed out (caused by TransportError('timed out'))",
     "timeout"),
    ("ERROR: [youtube] x: Unable to download webpage: <urlopen error [Errno -3] Temporary failure in name "
     "resolution> (caused by TransportError(...))", "network"),
    ("ERROR: [youtube] x: Unable to download webpage: [Errno 111] Connection refused", "network"),
    ("ERROR: [youtube] x: Unable to download webpage: ('Connection aborted.', RemoteDisconnected('Remote end "
     "closed connection without response'))", "network"),
    ("[download] File is larger than max-filesize (3000 bytes > 1000 bytes). Aborting.", "too_large"),
    # ffmpeg (inside yt-dlp or the normaliser)
    ("[http @ 0x55] Stream ends prematurely at 282059, should be 564118 | http://h/x.mp4: Input/output error",
     "network"),
    ("[http @ 0x55] HTTP error 404 Not Found | http://h/x.mp4: Server returned 404 Not Found", "unavailable"),
    ("http://h/x.mp4: Server returned 5XX Server Error reply", "network"),
    ("http://h/x.mp4: Server returned 4XX Client Error, but not one of 40{0,1,3,4}", "network"),
    ("[tcp @ 0x55] Connection to tcp://h:80 failed: Connection timed out", "timeout"),
    ("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] moov atom not found | file:/x.mp4: Invalid data found when processing "
     "input", "decode_error"),
]


@pytest.mark.parametrize(("message", "reason"), REAL_MESSAGES, ids=[m[:50] for m, _ in REAL_MESSAGES])
def test_real_messages_are_classified(message, reason):
    assert classify(message) == reason


def test_unknown_message_falls_back_to_default():
    assert classify("something nobody has seen before") == "error"
    assert classify("something nobody has seen before", default="ffmpeg_error") == "ffmpeg_error"


def test_every_rule_names_a_documented_reason():
    assert {reason for reason, _ in RULES} <= set(REASONS)
    assert TRANSIENT_REASONS <= {reason for reason, _ in RULES}


def test_clean_message_keeps_the_real_text():
    msg = "\x1b[0;31mERROR:\x1b[0m [youtube] abc:  Private video.\n Sign in"
    assert clean_message(msg) == "[youtube] abc: Private video. Sign in"
    assert len(clean_message("x" * 10_000)) <= 2000


def test_failure_reason_must_be_known():
    with pytest.raises(ValueError, match="unknown failure reason"):
        ClipFailure("kaput", "x")


class GeoRestrictedError(Exception):
    """Stands in for yt_dlp.utils.GeoRestrictedError: classified by type, whatever its text."""


class DownloadError(Exception):
    def __init__(self, msg, exc_info=None):
        super().__init__(msg)
        self.msg = msg
        self.exc_info = exc_info


def test_exception_types_win_over_text():
    inner = GeoRestrictedError("some new wording")
    wrapped = DownloadError("ERROR: [youtube] x: some new wording", exc_info=(type(inner), inner, None))
    failure = failure_from_exception(wrapped)
    assert failure.reason == "geo_blocked"
    assert failure.message == "[youtube] x: some new wording"
    assert failure_from_exception(TimeoutError("read")).reason == "timeout"
    assert failure_from_exception(ConnectionResetError("peer")).reason == "network"
    assert failure_from_exception(RuntimeError("boom")).reason == "error"


def test_real_yt_dlp_exception_classes():
    geo = YtGeo("The uploader has not made this video available in your country")
    err = YtDownloadError("ERROR: [youtube] abcdefghijk: The uploader has not made this video available",
                          exc_info=(type(geo), geo, None))
    assert failure_from_exception(err).reason == "geo_blocked"
    private = ExtractorError("Private video. Sign in if you've been granted access to this video", expected=True)
    err = YtDownloadError(f"ERROR: [youtube] abcdefghijk: {private.msg}", exc_info=(type(private), private, None))
    assert failure_from_exception(err).reason == "private"


def test_ffmpeg_error_text_drops_the_command_line():
    report = ("Command line:\nffmpeg -y -i http://127.0.0.1/secret.mp4 -c copy out.mp4\n"
              "[http @ 0x1] Stream ends prematurely at 10, should be 20\n"
              "http://127.0.0.1/x.mp4: Input/output error\n")
    text = ffmpeg_error_text(report)
    assert "Command line" not in text and "-c copy" not in text
    assert text == "[http @ 0x1] Stream ends prematurely at 10, should be 20 | http://127.0.0.1/x.mp4: Input/output error"
