"""Sources without a network: the yt-dlp parameter dict, URL building, retries with back-off, local index."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yt_dlp

from valor_data.clip import ClipRef
from valor_data.fetch.failures import ClipFailure
from valor_data.fetch.sources import (
    DEFAULT_FORMAT,
    DownloadOptions,
    LocalSource,
    YtDlpSource,
    backoff,
    index_video_dir,
    retry_transient,
    ytdlp_params,
)

CLIP = ClipRef.from_clip_id("-2Abohj8VYx_30.000_40.000")


def test_ytdlp_params_download_only_the_segment(tmp_path):
    params = ytdlp_params(DownloadOptions(), CLIP, tmp_path)
    ranges = list(params["download_ranges"]({}, None))
    assert ranges == [{"start_time": 30.0, "end_time": 40.0}]
    assert params["force_keyframes_at_cuts"] is False
    assert params["format"] == DEFAULT_FORMAT
    assert params["outtmpl"]["default"] == f"{tmp_path.resolve()}/segment.%(ext)s"
    assert params["overwrites"] is True and params["continuedl"] is False  # a stale file is never reused
    assert params["retries"] == 0 and params["fragment_retries"] == 0  # retries are ours
    assert params["socket_timeout"] == 30.0
    # the fallback's stream copy keeps the source's timestamps, shifted so that the segment starts at 60 s
    assert params["external_downloader_args"] == {"ffmpeg_i": ["-rw_timeout", "30000000"],
                                                  "ffmpeg_o": ["-output_ts_offset", "60"]}
    for absent in ("cookiefile", "proxy", "ratelimit", "sleep_interval_requests", "max_filesize"):
        assert absent not in params


def test_ytdlp_params_user_options(tmp_path):
    cookies = tmp_path / "cookies.txt"
    opts = DownloadOptions(
        cookies=str(cookies), proxy="socks5://127.0.0.1:1080", rate_limit=2 * 1024**2, sleep_requests=1.5,
        socket_timeout=7.5, max_filesize=50_000_000, format="bv*+ba/b",
        ytdlp_params=(("extractor_args", {"youtube": {"player_client": ["web"]}}),))
    params = ytdlp_params(opts, CLIP, tmp_path / "100%")
    assert params["cookiefile"] == str(cookies)
    assert params["proxy"] == "socks5://127.0.0.1:1080"
    assert params["ratelimit"] == 2 * 1024**2
    assert params["sleep_interval_requests"] == 1.5
    assert params["socket_timeout"] == 7.5
    assert params["max_filesize"] == 50_000_000
    assert params["external_downloader_args"] == {"ffmpeg_i": ["-rw_timeout", "7500000"],
                                                  "ffmpeg_o": ["-output_ts_offset", "60", "-fs", "50000000"]}
    assert params["format"] == "bv*+ba/b"
    assert params["extractor_args"] == {"youtube": {"player_client": ["web"]}}
    assert params["outtmpl"]["default"].endswith("/100%%/segment.%(ext)s")  # '%' in folders escaped


def test_ytdlp_params_are_accepted_by_yt_dlp(tmp_path):
    with yt_dlp.YoutubeDL(ytdlp_params(DownloadOptions(max_filesize=1000), CLIP, tmp_path)) as ydl:
        assert ydl.params["download_ranges"] is not None


def test_urls_never_start_with_a_dash():
    yt = YtDlpSource(DownloadOptions())
    assert yt.url_for(CLIP) == "https://www.youtube.com/watch?v=-2Abohj8VYx"
    assert yt.ie_key == "Youtube"
    mirror = YtDlpSource(DownloadOptions(source="mirror", url_template="http://127.0.0.1:8/v/{ytid}.mp4"))
    assert mirror.url_for(CLIP) == "http://127.0.0.1:8/v/-2Abohj8VYx.mp4"
    assert mirror.ie_key == "Generic"


@pytest.mark.parametrize(("template", "match"), [
    ("http://host/video.mp4", "must contain {ytid}"),
    ("http://host/{ytid}/{start}.mp4", "no other placeholder"),
    ("ftp://host/{ytid}.mp4", "http:// or https://"),
    ("http://host/{ytid.mp4", "bad --url-template"),
])
def test_bad_url_templates_fail_loudly(template, match):
    with pytest.raises(ValueError, match=match):
        DownloadOptions(source="mirror", url_template=template)


def test_sources_need_their_options():
    with pytest.raises(ValueError, match="--url-template"):
        DownloadOptions(source="mirror")
    with pytest.raises(ValueError, match="--video-dir"):
        DownloadOptions(source="local")
    with pytest.raises(ValueError, match="unknown source"):
        DownloadOptions(source="vimeo")


def test_retry_transient_backs_off_exponentially_for_transient_reasons_only():
    waits: list[float] = []
    calls: list[int] = []

    def flaky(attempt: int) -> str:
        calls.append(attempt)
        if attempt < 3:
            raise ClipFailure("rate_limited", "HTTP Error 429: Too Many Requests")
        return "done"

    assert retry_transient(flaky, retries=3, wait=1.0, sleep=waits.append) == ("done", 3)
    assert calls == [1, 2, 3]
    assert len(waits) == 2 and 0.8 <= waits[0] <= 1.2 and 1.6 <= waits[1] <= 2.4

    def gone(attempt: int) -> str:
        raise ClipFailure("private", "Private video")

    waits.clear()
    with pytest.raises(ClipFailure) as info:
        retry_transient(gone, retries=5, wait=1.0, sleep=waits.append)
    assert info.value.attempts == 1 and waits == []  # permanent: no retry

    def down(attempt: int) -> str:
        raise ClipFailure("network", "HTTP Error 503")

    with pytest.raises(ClipFailure) as info:
        retry_transient(down, retries=2, wait=0.5, sleep=waits.append)
    assert info.value.attempts == 3 and len(waits) == 2


def test_backoff_is_capped():
    rng = random.Random(0)
    assert all(96 <= backoff(20, 2.0, 120.0, rng) <= 144 for _ in range(50))
    assert 0.8 <= backoff(1, 1.0, 120.0, rng) <= 1.2


def test_local_index_prefers_video_files(tmp_path):
    for name in ["-2Abohj8VYx.webm", "-2Abohj8VYx.mp4", "-2Abohj8VYx.mp4.part", "-2Abohj8VYx.info.json",
                 "Agi5ySKb1tY.mkv", "Agi5ySKb1tY.jpg", "README.txt", "tooshort.mp4"]:
        (tmp_path / name).write_bytes(b"x")
    index = index_video_dir(tmp_path)
    assert index == {"-2Abohj8VYx": tmp_path / "-2Abohj8VYx.mp4", "Agi5ySKb1tY": tmp_path / "Agi5ySKb1tY.mkv"}
    (tmp_path / "zzzzzzzzzzz.mov").write_bytes(b"x")  # the directory changed: the cache is refreshed
    assert "zzzzzzzzzzz" in index_video_dir(tmp_path)


def test_local_source_points_at_the_full_video(tmp_path):
    (tmp_path / "-2Abohj8VYx.mp4").write_bytes(b"x" * 100)
    source = LocalSource(DownloadOptions(source="local", video_dir=str(tmp_path)))
    resolved = source.fetch(CLIP, Path("/nonexistent"))
    assert [i.url for i in resolved.inputs] == [f"file:{tmp_path.resolve()}/-2Abohj8VYx.mp4"]  # never a bare name
    assert (resolved.start, resolved.duration, resolved.way, resolved.size) == (30.0, 10.0, "local", 100)
    with pytest.raises(ClipFailure) as info:
        source.fetch(ClipRef.from_clip_id("Agi5ySKb1tY_0_10"), tmp_path)
    assert info.value.reason == "unavailable" and "Agi5ySKb1tY" in info.value.message
    small = LocalSource(DownloadOptions(source="local", video_dir=str(tmp_path), max_filesize=10))
    with pytest.raises(ClipFailure) as info:
        small.fetch(CLIP, tmp_path)
    assert info.value.reason == "too_large"
