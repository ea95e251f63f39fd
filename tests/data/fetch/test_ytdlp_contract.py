"""The contract between fetch and the installed yt-dlp, for the one behaviour fetch relies on beyond
yt-dlp's public API (valor_data/fetch/ytdlp.py): its segment download starts ffmpeg through
``yt_dlp.downloader.external.Popen``. A yt-dlp release that changes this fails here, naming its version."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest
import yt_dlp
from yt_dlp.downloader import external

from valor_data.clip import ClipRef
from valor_data.fetch.sources import DownloadOptions, ytdlp_params
from valor_data.fetch.ytdlp import ffmpeg_report, ytdlp_version


def _child_sees() -> str:
    with external.Popen(["sh", "-c", 'printf %s "$FFREPORT"'], stdout=subprocess.PIPE, text=True) as p:
        return p.communicate()[0]


def test_the_segment_download_ffmpeg_writes_the_report(tmp_path, mirror_server, spec):
    opts = DownloadOptions(source="mirror", url_template=mirror_server.url_template)
    clip = ClipRef.from_clip_id(spec.clip_id("-okAAAAAAA1"))
    report = tmp_path / "ffmpeg-report.log"
    params = ytdlp_params(opts, clip, tmp_path)
    with yt_dlp.YoutubeDL(params) as ydl, ffmpeg_report(report):
        ydl.extract_info(opts.url_template.format(ytid=clip.ytid), download=True, ie_key="Generic")
    assert [p.name for p in tmp_path.glob("segment.*")], "yt-dlp downloaded no segment from the mirror"
    if not report.is_file():
        pytest.fail(f"yt-dlp {ytdlp_version()}: its segment download no longer starts ffmpeg through "
                    "yt_dlp.downloader.external.Popen, so fetch loses ffmpeg's log of a failed segment "
                    "(valor_data/fetch/ytdlp.py needs another way)")
    assert "Command line:" in report.read_text(errors="replace")


def test_the_report_reaches_only_the_ffmpeg_yt_dlp_starts_from_this_thread(tmp_path):
    """FFREPORT goes to yt-dlp's children of this thread, never into os.environ, so the normaliser's ffmpeg
    running in another thread at the same moment never writes into the report."""
    seen_elsewhere: list[str] = []
    with ffmpeg_report(tmp_path / "r.log"):
        assert "FFREPORT" not in os.environ
        assert _child_sees().startswith("file=") and "r.log" in _child_sees()
        other = threading.Thread(target=lambda: seen_elsewhere.append(_child_sees()))
        other.start()
        other.join()
    assert seen_elsewhere == [""]
    assert _child_sees() == ""
