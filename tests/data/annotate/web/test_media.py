"""Clip media for the browser: a tar's video and audio members remuxed in place into one MP4 (no re-encode),
the LRU, and HTTP Range answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from valor_data.annotate.web.media import (
    MediaCache,
    MediaError,
    byte_range,
    parse_media,
    ranged_response,
    remux,
)


def probe(data: bytes, tmp: Path) -> list[dict]:
    f = tmp / "probe.mp4"
    f.write_bytes(data)
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,duration", "-of", "json",
                          str(f)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["streams"]


def test_tar_members_remux_into_one_mp4_with_both_streams_copied(tmp_path, media_helpers):
    media = media_helpers.make_tar_media(tmp_path)
    data = remux(parse_media(media))
    streams = probe(data, tmp_path)
    assert [s["codec_name"] for s in streams] == ["h264", "flac"]
    assert all(abs(float(s["duration"]) - 2.0) < 0.15 for s in streams)
    assert data[4:8] == b"ftyp" and data.index(b"moov") < data.index(b"mdat")  # faststart: playable at once
    # a copy, not a re-encode: the video stream's bytes are the member's H.264 packets
    assert len(data) < (tmp_path / "clip.mp4").stat().st_size + (tmp_path / "clip.flac").stat().st_size + 4096


def test_fetch_files_remux_too(tmp_path, media_helpers):
    video, audio = media_helpers.make_pair(tmp_path)
    streams = probe(remux(parse_media({"kind": "files", "video": str(video), "audio": str(audio)})), tmp_path)
    assert [s["codec_name"] for s in streams] == ["h264", "flac"]


@pytest.mark.parametrize("spec, words", [
    ({"kind": "zip"}, "unknown kind"),
    ({"kind": "tar", "path": "/x.tar", "video": [0, 0], "audio": [10, 5]}, "empty member"),
    ({"kind": "tar", "path": "/x.tar", "video": [0, 5]}, "audio"),
    ({"video": "/a.mp4"}, "kind"),
])
def test_unusable_media_specs_are_named(spec, words):
    with pytest.raises(MediaError, match=words):
        parse_media(spec)


def test_missing_file_and_broken_member_are_one_line(tmp_path, media_helpers):
    with pytest.raises(MediaError, match="not found"):
        remux(parse_media({"kind": "files", "video": str(tmp_path / "no.mp4"), "audio": str(tmp_path / "no.flac")}))
    media = media_helpers.make_tar_media(tmp_path)
    media["video"] = [media["video"][0] + 512, media["video"][1]]  # not where the mp4 starts
    with pytest.raises(MediaError, match="ffmpeg could not remux"):
        remux(parse_media(media))


def test_cache_keeps_recent_clips_and_drops_the_least_recent(tmp_path, monkeypatch):
    made = []

    def fake_remux(media):
        made.append(media.video.path)
        return b"x" * 40

    monkeypatch.setattr("valor_data.annotate.web.media.remux", fake_remux)
    cache = MediaCache(max_bytes=100)
    a, b, c = (parse_media({"kind": "files", "video": f"/{n}.mp4", "audio": f"/{n}.flac"}) for n in "abc")
    cache.get(a), cache.get(b), cache.get(a)
    assert made == ["/a.mp4", "/b.mp4"]
    cache.get(c)  # 120 bytes > 100: b, the least recently used, goes
    cache.get(a)
    cache.get(b)
    assert made == ["/a.mp4", "/b.mp4", "/c.mp4", "/b.mp4"]


@pytest.mark.parametrize("header, expected", [
    (None, None), ("bytes=0-", (0, 99)), ("bytes=10-19", (10, 19)), ("bytes=90-200", (90, 99)),
    ("bytes=-10", (90, 99)), ("bytes=-500", (0, 99)), ("bytes=0-1,5-6", None), ("items=0-1", None),
])
def test_byte_range(header, expected):
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=20-10", "bytes=-0"])
def test_byte_range_outside_is_refused(header):
    with pytest.raises(ValueError):
        byte_range(header, 100)


def test_ranged_response_statuses():
    data = bytes(range(100))
    whole = ranged_response(data, None)
    assert whole.status_code == 200 and whole.body == data and whole.headers["accept-ranges"] == "bytes"
    part = ranged_response(data, "bytes=10-19")
    assert part.status_code == 206 and part.body == data[10:20]
    assert part.headers["content-range"] == "bytes 10-19/100" and part.headers["content-length"] == "10"
    bad = ranged_response(data, "bytes=500-")
    assert bad.status_code == 416 and bad.headers["content-range"] == "bytes */100"


def test_prefetch_remuxes_once_in_the_background(monkeypatch):
    made = []

    def slow_remux(media):
        made.append(media.video.path)
        return b"mp4"

    monkeypatch.setattr("valor_data.annotate.web.media.remux", slow_remux)
    cache = MediaCache()
    clip = parse_media({"kind": "files", "video": "/a.mp4", "audio": "/a.flac"})
    assert cache.prefetch(clip).result(timeout=10) == b"mp4"
    assert cache.get(clip) == b"mp4" and made == ["/a.mp4"]
