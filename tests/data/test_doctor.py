"""`valor-data doctor` offline: missing tools faked with PATH, bad and expired cookies files, an old yt-dlp,
a missing or too old JavaScript runtime; what --source requires decides the exit code. And the runtime
valor finds is the one it hands to yt-dlp."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.clip import ClipRef
from valor_data.fetch import jsruntime
from valor_data.fetch.sources import DownloadOptions, ytdlp_params


def doctor(*args: str) -> tuple[int, dict[str, dict]]:
    res = CliRunner().invoke(main, ["doctor", "--json", *args])
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.stdout)
    assert report["ok"] == (res.exit_code == 0)
    return res.exit_code, {row["name"]: row for row in report["checks"]}


@pytest.fixture(autouse=True)
def _fresh_runtime_lookup():
    jsruntime.preferred_runtime.cache_clear()
    yield
    jsruntime.preferred_runtime.cache_clear()


def _bin_dir(tmp_path: Path, keep: tuple[str, ...] = (), fakes: dict[str, str] | None = None) -> Path:
    """A PATH holding only ``keep`` (links to the real tools) and fake scripts."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for tool in keep:
        (d / tool).symlink_to(shutil.which(tool))
    for name, text in (fakes or {}).items():
        (d / name).write_text(f"#!/bin/sh\necho '{text}'\n")
        (d / name).chmod(0o755)
    return d


@pytest.fixture
def no_venv_deno(monkeypatch):
    """Hide the deno binary the `deno` package put next to this Python: only PATH counts."""
    monkeypatch.setattr(jsruntime, "_scripts_dir_executable", lambda exe: None)


def test_local_source_needs_ffmpeg_only(tmp_path):
    code, rows = doctor("--source", "local", "--video-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert rows["ffmpeg"]["status"] == "ok" and rows["encode H.264 video"]["status"] == "ok"
    assert not rows["yt-dlp-ejs"]["required"] and not rows["JavaScript runtime"]["required"]
    assert rows["video dir"]["status"] == "MISSING" and code == 1  # an empty video dir: nothing to fetch
    (tmp_path / "-abcdefghij.mp4").write_bytes(b"x")
    code, rows = doctor("--source", "local", "--video-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert rows["video dir"]["status"] == "ok" and "1 videos" in rows["video dir"]["detail"]


def test_missing_ffmpeg_and_java_are_named(tmp_path, monkeypatch, no_venv_deno):
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path)))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    code, rows = doctor("--source", "local", "--video-dir", str(tmp_path), "--distributor", "spark")
    assert code == 1
    assert rows["ffmpeg"]["status"] == "MISSING" and "not on PATH" in rows["ffmpeg"]["detail"]
    assert rows["encode FLAC audio"]["status"] == "MISSING"
    assert rows["Java"]["status"] == "MISSING"  # --distributor spark needs it
    code, rows = doctor("--source", "local", "--video-dir", str(tmp_path))
    assert rows["Java"]["status"] == "warning"  # optional otherwise


def test_youtube_needs_a_supported_js_runtime(tmp_path, monkeypatch, no_venv_deno):
    path = _bin_dir(tmp_path, keep=("ffmpeg", "ffprobe"), fakes={"deno": "deno 1.40.0"})
    monkeypatch.setenv("PATH", str(path))
    code, rows = doctor("--out", str(tmp_path))
    assert code == 1 and rows["JavaScript runtime"]["status"] == "MISSING"
    assert "deno 1.40.0" in rows["JavaScript runtime"]["detail"] and "too old" in rows["JavaScript runtime"]["detail"]
    (path / "deno").unlink()
    jsruntime.preferred_runtime.cache_clear()
    code, rows = doctor("--out", str(tmp_path))
    assert rows["JavaScript runtime"]["status"] == "MISSING" and "none found" in rows["JavaScript runtime"]["detail"]
    jsruntime.preferred_runtime.cache_clear()
    code, rows = doctor("--out", str(tmp_path), "--source", "mirror")
    assert rows["JavaScript runtime"]["status"] == "warning"  # the mirror never runs YouTube's challenges


def test_a_supported_runtime_is_preferred_and_handed_to_ytdlp(tmp_path, monkeypatch, no_venv_deno):
    path = _bin_dir(tmp_path, fakes={"deno": "deno 2.5.1", "node": "v20.0.0"})
    monkeypatch.setenv("PATH", str(path))
    params = ytdlp_params(DownloadOptions(), ClipRef("abcdefghijk", 0, 1000), tmp_path)
    assert params["js_runtimes"] == {"deno": {"path": str(path / "deno")}}
    (path / "deno").unlink()
    (path / "node").write_text("#!/bin/sh\necho v22.3.0\n")
    jsruntime.preferred_runtime.cache_clear()
    params = ytdlp_params(DownloadOptions(), ClipRef("abcdefghijk", 0, 1000), tmp_path)
    assert params["js_runtimes"] == {"node": {"path": str(path / "node")}}
    user = DownloadOptions(ytdlp_params=(("js_runtimes", {"bun": {}}),))
    assert ytdlp_params(user, ClipRef("abcdefghijk", 0, 1000), tmp_path)["js_runtimes"] == {"bun": {}}


def test_the_deno_package_is_found_without_path(tmp_path, monkeypatch):
    """`pip install valor[data]` brings deno next to this Python; yt-dlp gets it even off PATH."""
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path)))
    runtime = jsruntime.preferred_runtime()
    if runtime is None:
        pytest.skip("the deno package is not installed in this environment")
    assert runtime.name == "deno" and Path(runtime.path).parent == Path(sys.executable).parent
    import yt_dlp  # optional extra: data

    with yt_dlp.YoutubeDL({"js_runtimes": jsruntime.ytdlp_js_runtimes(), "quiet": True}) as ydl:
        info = ydl._js_runtimes["deno"].info
    assert info is not None and info.supported


def test_an_old_ytdlp_fails_for_youtube_only(tmp_path, monkeypatch):
    code, rows = doctor("--out", str(tmp_path), "--max-ytdlp-age", "0", "--source", "mirror")
    assert rows["yt-dlp"]["status"] == "ok"
    code, rows = doctor("--out", str(tmp_path), "--max-ytdlp-age", "0")
    assert code == 1 and rows["yt-dlp"]["status"] == "MISSING" and "days old" in rows["yt-dlp"]["detail"]
    monkeypatch.setattr("yt_dlp.version.__version__", "2025.10.22")
    code, rows = doctor("--out", str(tmp_path))
    assert rows["yt-dlp"]["status"] == "MISSING" and "2025.11.12" in rows["yt-dlp"]["detail"]


def _cookie(domain: str, name: str, expires: int) -> str:
    return "\t".join([domain, "TRUE", "/", "TRUE", str(expires), name, "value"])


@pytest.mark.parametrize(("text", "status", "words"), [
    ("not a cookies file\n", "MISSING", "not a Netscape cookies file"),
    ("# Netscape HTTP Cookie File\n", "MISSING", "holds no cookies"),
    ("# Netscape HTTP Cookie File\n" + _cookie(".youtube.com", "SID", 1_000_000_000) + "\n", "MISSING", "expired"),
    ("# Netscape HTTP Cookie File\n" + _cookie(".example.com", "a", 4_000_000_000) + "\n", "MISSING", "none for youtube"),
    ("# Netscape HTTP Cookie File\n" + _cookie(".youtube.com", "SID", int(time.time()) + 86400) + "\n"
     + _cookie(".youtube.com", "OLD", 1_000_000_000) + "\n", "ok", "1 unexpired youtube.com cookies, 1 expired"),
])  # fmt: skip
def test_cookies_file(tmp_path, text, status, words):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(text)
    code, rows = doctor("--out", str(tmp_path), "--cookies", str(cookies))
    assert rows["cookies"]["status"] == status and words in rows["cookies"]["detail"], rows["cookies"]
    if status == "MISSING":
        assert code == 1


def test_unreadable_cookies_and_no_cookies(tmp_path):
    code, rows = doctor("--out", str(tmp_path), "--cookies", str(tmp_path / "nope.txt"))
    assert rows["cookies"]["status"] == "MISSING" and "not a readable file" in rows["cookies"]["detail"]
    code, rows = doctor("--out", str(tmp_path))
    assert rows["cookies"]["status"] == "-" and not rows["cookies"]["required"]


def test_free_disk_and_the_table(tmp_path):
    code, rows = doctor("--source", "local", "--video-dir", str(tmp_path), "--out", str(tmp_path / "a" / "b"),
                        "--min-free", "1000000T")
    assert code == 1 and rows["disk (--out)"]["status"] == "MISSING" and "GiB free" in rows["disk (--out)"]["detail"]
    res = CliRunner().invoke(main, ["doctor", "--source", "local", "--video-dir", str(tmp_path), "--out",
                                    str(tmp_path), "--min-free", "1000000T"])
    assert res.exit_code == 1
    assert "MISSING" in res.output and "missing for --source local: " in res.output and "disk (--out)" in res.output
    assert os.path.basename(str(tmp_path)) in res.output


def test_fetch_from_youtube_warns_before_the_run_when_the_runtime_is_missing(tmp_path, monkeypatch, no_venv_deno):
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path, keep=("ffmpeg",))))
    ids = tmp_path / "ids.txt"
    ids.write_text("not-a-clip-id\n")  # no valid clip: nothing is downloaded
    res = CliRunner().invoke(main, ["fetch", str(ids), "--out", str(tmp_path / "out"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "warning: JavaScript runtime: none found" in res.stderr
    assert "valor-data doctor --source youtube" in res.stderr
