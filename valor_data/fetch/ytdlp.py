"""The one place fetch relies on yt-dlp beyond its public API: ffmpeg's own log for a segment download.

When fetch falls back to yt-dlp's segment download (``download_ranges``: HLS, segmented DASH), yt-dlp's
ffmpeg downloader runs ffmpeg with the inherited stderr and reports a failure only as "ffmpeg exited with
code 1"; a body cut short even exits 0. ffmpeg says why in its log, and the only way to have it write that
log to a file of our choosing is the ``FFREPORT`` environment variable, which no yt-dlp option sets.
Setting it in ``os.environ`` would reach every ffmpeg of the process (the normaliser's too, in another
thread), so :func:`ffmpeg_report` gives it to the ffmpeg yt-dlp starts *from this thread* only, by
wrapping ``yt_dlp.downloader.external.Popen``, the name yt-dlp's external downloaders start their child
process with.

``tests/data/fetch/test_ytdlp_contract.py`` checks that yt-dlp still starts its ffmpeg through that name
(the report appears after a real segment download), and fails naming the installed yt-dlp version when it
does not; :func:`ffmpeg_report` itself refuses to run on a yt-dlp without it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

_THREAD_ENV = threading.local()
_MARK = "_valor_thread_env"


def ytdlp_version() -> str:
    import yt_dlp.version  # optional extra: data (yt-dlp); `fetch --help` stays fast without it

    return yt_dlp.version.__version__


def _route_ytdlp_subprocesses() -> None:
    """Make yt-dlp's external downloaders start their child through a ``Popen`` that merges this thread's
    extra environment (set by :func:`ffmpeg_report`) into the child's; idempotent."""
    from yt_dlp.downloader import external  # optional extra: data (yt-dlp)

    popen = getattr(external, "Popen", None)
    if popen is None or not isinstance(popen, type):
        raise RuntimeError(f"yt-dlp {ytdlp_version()}: yt_dlp.downloader.external.Popen is gone; fetch's segment "
                           "download cannot keep ffmpeg's log (see valor_data/fetch/ytdlp.py)")
    if getattr(popen, _MARK, False):
        return

    class ThreadEnvPopen(popen):
        def __init__(self, args, *remaining, env=None, **kwargs):
            extra = getattr(_THREAD_ENV, "env", None)
            if extra:
                env = {**(os.environ if env is None else env), **extra}
            super().__init__(args, *remaining, env=env, **kwargs)

    setattr(ThreadEnvPopen, _MARK, True)
    external.Popen = ThreadEnvPopen


def _escape_report_path(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'").replace("%", "%%")


@contextlib.contextmanager
def ffmpeg_report(path: Path, level: int = 24) -> Iterator[Path]:
    """Make every ffmpeg that yt-dlp starts from this thread inside the block write its log (warnings and
    worse) to ``path``."""
    _route_ytdlp_subprocesses()
    _THREAD_ENV.env = {"FFREPORT": f"file={_escape_report_path(path)}:level={level}"}
    try:
        yield path
    finally:
        _THREAD_ENV.env = None
