"""Sources: where a clip's media comes from, each resolved to the inputs of the normalising pass
(:class:`Resolved`) or to a classified failure.

* ``youtube`` (default): ``https://www.youtube.com/watch?v={ytid}`` through yt-dlp's Python API.
* ``mirror``: ``--url-template 'http://host/{ytid}.mp4'`` through yt-dlp's *generic* extractor: the very
  code path YouTube takes (options, format selection, error wording), minus YouTube's extractor, so the
  offline tests exercise it.
* ``local``: ``--video-dir DIR`` holding full videos named ``{ytid}.{ext}``; the pass reads the file.

For ``youtube`` and ``mirror`` yt-dlp only *resolves* the media: the chosen format(s), their URLs, HTTP
headers, cookies and proxy. One ffmpeg (``normalize``) then reads the video and audio URLs itself, seeking
with HTTP Range requests, and writes the normalised files: no segment on disk, no second ffmpeg. Formats
ffmpeg cannot seek in directly (HLS, segmented DASH, anything but plain http(s)) take the fallback: yt-dlp
downloads the segment with ``download_ranges`` (a stream copy, its ffmpeg's log kept in an ``FFREPORT``
file by ``ytdlp.py``, the one place fetch relies on yt-dlp beyond its public API), and the pass reads that
file.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Protocol, TypeVar

from valor_data.clip import YTID_RE, ClipRef, Status
from valor_data.fetch.failures import ClipFailure, classify, failure_from_exception, ffmpeg_error_text
from valor_data.fetch.jsruntime import ytdlp_js_runtimes
from valor_data.fetch.normalize import PassInput, local_input
from valor_data.fetch.ytdlp import ffmpeg_report

SOURCES = ("youtube", "mirror", "local")
# Best video up to 360p (enough for a 224 short side) plus the best audio; else the best single file up to
# 360p; else the smallest. `?` lets formats of unknown height (direct links on a mirror) through.
DEFAULT_FORMAT = "bv*[height<=?360]+ba/b[height<=?360]/wv*+ba/w"
VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi", ".flv", ".3gp", ".ts", ".mpg", ".mpeg", ".ogv")
_SKIP_EXTS = {".part", ".ytdl", ".json", ".txt", ".jpg", ".jpeg", ".png", ".webp", ".description", ".tmp"}

T = TypeVar("T")


@dataclass(frozen=True)
class DownloadOptions:
    """Everything a source needs; picklable, so it travels inside a task description."""

    source: str = "youtube"
    url_template: str | None = None
    video_dir: str | None = None
    format: str = DEFAULT_FORMAT
    cookies: str | None = None
    proxy: str | None = None
    rate_limit: int | None = None  # bytes/s
    sleep_requests: float | None = None
    socket_timeout: float = 30.0
    max_filesize: int | None = None  # bytes of one downloaded segment (or local video)
    max_duration: float | None = None  # seconds of the whole source video
    retries: int = 3
    retry_wait: float = 2.0  # first back-off, doubled at each retry
    retry_max_wait: float = 120.0
    ytdlp_params: tuple[tuple[str, object], ...] = ()  # extra yt-dlp params, (key, value) pairs

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}: choose one of {', '.join(SOURCES)}")
        if self.source == "mirror":
            if not self.url_template:
                raise ValueError("--source mirror needs --url-template, e.g. 'http://host/{ytid}.mp4'")
            check_url_template(self.url_template)
        if self.source == "local" and not self.video_dir:
            raise ValueError("--source local needs --video-dir DIR (full videos named {ytid}.mp4 etc.)")
        if self.retries < 0 or self.socket_timeout <= 0:
            raise ValueError("--retries must be >= 0 and --socket-timeout > 0")


def check_url_template(template: str) -> None:
    """A mirror URL template is an http(s) URL whose only placeholder is ``{ytid}``."""
    try:
        fields = {f for _, f, _, _ in Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise ValueError(f"bad --url-template {template!r}: {e}") from None
    if fields != {"ytid"}:
        raise ValueError(f"--url-template {template!r} must contain {{ytid}} and no other placeholder")
    if not re.match(r"^https?://", template):
        raise ValueError(f"--url-template {template!r} must be an http:// or https:// URL")


@dataclass
class Resolved:
    """Where a clip's media is and how the normalising pass reads it: the inputs (a local file, one URL, or
    a video URL and an audio URL for split DASH), and where the segment lies in them (player time)."""

    inputs: list[PassInput]
    start: float
    duration: float
    way: str  # "local", "one_pass" (ffmpeg reads the URLs) or "segment_download" (the fallback)
    source_duration: float | None = None  # what the site says, when it does
    size: int | None = None  # bytes of the whole source(s), when known
    notes: list[str] = field(default_factory=list)

    @property
    def audio_input(self) -> int:
        return len(self.inputs) - 1  # split DASH: video first, audio second

    def probe_options(self, i: int, socket_timeout: float) -> dict[str, str]:
        """ffmpeg protocol options to open input ``i`` the way the pass will (headers, cookies, proxy)."""
        inp = self.inputs[i]
        if not inp.is_url:
            return {}
        options = {"rw_timeout": str(int(socket_timeout * 1_000_000))}
        if inp.headers:
            options["headers"] = "".join(f"{k}: {v}\r\n" for k, v in inp.headers)
        if inp.cookies:
            options["cookies"] = inp.cookies
        if inp.proxy:
            options["http_proxy"] = inp.proxy
        return options


class Source(Protocol):
    name: str
    # False when fetch never writes into ``workdir`` (local files): no scratch folder is made per clip,
    # which at a million clips costs minutes of mkdir/rmdir.
    needs_workdir: bool

    def prepare(self) -> None:
        """Expensive one-off set-up, run in the parent process before tasks are distributed."""
        ...

    def fetch(self, clip: ClipRef, workdir: Path) -> Resolved:
        """Resolve the clip's media (download it into the empty ``workdir`` only when the pass cannot read
        it directly); raise ClipFailure."""
        ...


# ----------------------------------------------------------------------------------------------------
# yt-dlp sources (youtube and mirror)
# ----------------------------------------------------------------------------------------------------
class _Collect:
    """yt-dlp logger: keeps warnings and errors, drops progress chatter."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)

    def error(self, msg: str) -> None:
        self.errors.append(msg)


# The fallback's segment file keeps the source's timestamps shifted by this much, so that the segment's
# start is at a known timestamp whatever keyframe before it the stream copy began with (container muxers
# would otherwise shift a copy that starts before 0 by an unknown amount).
SEGMENT_TS_OFFSET = 60.0


def ytdlp_params(opts: DownloadOptions, clip: ClipRef, workdir: Path) -> dict:
    """The yt-dlp parameter dict for the fallback: download only ``clip``'s segment into ``workdir``
    (its stream copy keeps timestamps, shifted by :data:`SEGMENT_TS_OFFSET`)."""
    from yt_dlp.utils import download_range_func  # optional extra: data (yt-dlp), imported on use

    params = resolve_params(opts)
    ffmpeg_in = ["-rw_timeout", str(int(opts.socket_timeout * 1_000_000))]  # ffmpeg's socket timeout (us)
    ffmpeg_out = ["-output_ts_offset", f"{SEGMENT_TS_OFFSET:g}"]
    if opts.max_filesize:
        ffmpeg_out += ["-fs", str(opts.max_filesize)]
    params.update({
        # The folder is literal text in a template: escape '%'.
        "outtmpl": {"default": str(Path(workdir).resolve()).replace("%", "%%") + "/segment.%(ext)s"},
        "download_ranges": download_range_func(None, [(clip.start, clip.end)]),
        "force_keyframes_at_cuts": False,  # stream copy; the pass re-encodes once
        "merge_output_format": "mkv",  # holds any codec pair yt-dlp may pick
        "overwrites": True,
        "continuedl": False,
        "fixup": "never",
        "external_downloader_args": {"ffmpeg_i": ffmpeg_in, "ffmpeg_o": ffmpeg_out},
    })
    if opts.max_filesize:
        params["max_filesize"] = opts.max_filesize
    params.update(dict(opts.ytdlp_params))
    return params


def resolve_params(opts: DownloadOptions) -> dict:
    """The yt-dlp parameter dict for resolving a clip's media (no download)."""
    params: dict = {
        "format": opts.format,
        "noplaylist": True,
        "cachedir": False,
        "quiet": True,
        "noprogress": True,
        "no_color": True,
        "socket_timeout": opts.socket_timeout,
        "retries": 0,  # retries are ours: exponential back-off, transient reasons only
        "fragment_retries": 0,
        "js_runtimes": ytdlp_js_runtimes(),  # YouTube's challenges need one (fetch/jsruntime.py)
    }
    if opts.cookies:
        params["cookiefile"] = opts.cookies
    if opts.proxy:
        params["proxy"] = opts.proxy
    if opts.rate_limit:
        params["ratelimit"] = opts.rate_limit
    if opts.sleep_requests:
        params["sleep_interval_requests"] = opts.sleep_requests
    params.update(dict(opts.ytdlp_params))
    return params


def _read_report(path: Path) -> str:
    try:
        return ffmpeg_error_text(path.read_text(errors="replace"))
    except OSError:
        return ""


_YDL_CACHE: dict[str, object] = {}
DIRECT_PROTOCOLS = ("http", "https")  # what ffmpeg seeks in with Range requests


def cookie_text(cookies: Iterable) -> str | None:
    """ffmpeg's ``-cookies`` text for ``http.cookiejar`` cookies: one Set-Cookie-like line each."""
    lines = [f"{c.name}={c.value}; path={c.path}; domain={c.domain};\r\n" for c in cookies]
    return "".join(lines) or None


class YtDlpSource:
    """YouTube (``generic=False``) or a URL-template mirror (``generic=True``) through yt-dlp."""

    needs_workdir = True

    def __init__(self, opts: DownloadOptions):
        self.opts = opts
        self.generic = opts.source == "mirror"
        self.name = opts.source
        # Naming the extractor skips matching the URL against ~1,900 extractor patterns (seconds, once
        # per process).
        self.ie_key = "Generic" if self.generic else "Youtube"

    def url_for(self, clip: ClipRef) -> str:
        if self.generic:
            return self.opts.url_template.format(ytid=clip.ytid)
        return clip.youtube_url

    def prepare(self) -> None:
        """Warm yt-dlp up in the parent before workers fork: import it and the extractor. Otherwise every
        worker pays about a second for it on its first clip. (yt-dlp's own ffmpeg detection, two
        ``ffmpeg -version`` runs, waits for the first fallback clip: most runs have none.)"""
        import yt_dlp.downloader.external  # noqa: F401  (optional extra: data; forked workers inherit it)

        ydl = self._ydl(resolve_params(self.opts))
        ydl.get_info_extractor(self.ie_key)

    def _ydl(self, params: dict):
        """One YoutubeDL per process and options, reused across clips and tasks: yt-dlp reads ``outtmpl``,
        ``download_ranges`` and ``logger`` from ``params`` when it uses them."""
        import yt_dlp  # optional extra: data (yt-dlp), imported on use

        key = repr(self.opts)
        ydl = _YDL_CACHE.get(key)
        if ydl is None:
            ydl = _YDL_CACHE[key] = yt_dlp.YoutubeDL(params)
        else:
            ydl.params.update(params)
        return ydl

    def _run_ytdlp(self, call: Callable[[], T], report: Path | None = None) -> T:
        """Run a yt-dlp call; its errors become classified :class:`ClipFailure` with the real message."""
        import yt_dlp  # optional extra: data (yt-dlp), imported on use

        try:
            return call()
        except yt_dlp.utils.DownloadError as e:
            _YDL_CACHE.pop(repr(self.opts), None)  # start the next clip from a clean downloader
            message = getattr(e, "msg", None) or str(e)
            ff = _read_report(report) if report else ""
            if ff and re.search(r"exited with code", message):
                # yt-dlp only knows ffmpeg failed; ffmpeg's own words say why.
                raise ClipFailure(classify(ff, default=Status.NETWORK), f"{message}: {ff}") from None
            raise failure_from_exception(e) from None
        except Exception:
            _YDL_CACHE.pop(repr(self.opts), None)
            raise

    def fetch(self, clip: ClipRef, workdir: Path) -> Resolved:
        logger = _Collect()
        ydl = self._ydl({**resolve_params(self.opts), "logger": logger})
        info = self._run_ytdlp(lambda: ydl.extract_info(self.url_for(clip), download=False, ie_key=self.ie_key))
        duration = info.get("duration") if isinstance(info, dict) else None
        if self.opts.max_duration is not None and duration is not None and duration > self.opts.max_duration:
            raise ClipFailure(Status.TOO_LONG, f"the video lasts {duration:g} s > --max-duration "
                                               f"{self.opts.max_duration:g} s")
        formats = info.get("requested_formats") or [info]
        if all(f.get("protocol") in DIRECT_PROTOCOLS and not f.get("fragments") for f in formats):
            inputs = [self._pass_input(ydl, f, info) for f in formats]
            sizes = [f.get("filesize") or f.get("filesize_approx") for f in formats]
            return Resolved(inputs, clip.start, clip.duration, "one_pass", source_duration=duration,
                            size=sum(sizes) if all(sizes) else None, notes=logger.warnings[:5])
        return self._download_segment(clip, Path(workdir), info, logger)

    def _pass_input(self, ydl, fmt: dict, info: dict) -> PassInput:
        url = fmt["url"]
        headers = fmt.get("http_headers") or info.get("http_headers") or {}
        return PassInput(url, headers=tuple(headers.items()),
                         cookies=cookie_text(ydl.cookiejar.get_cookies_for_url(url)), proxy=self.opts.proxy)

    def _download_segment(self, clip: ClipRef, workdir: Path, info: dict, logger: _Collect) -> Resolved:
        """The fallback: yt-dlp's ffmpeg copies the segment to ``workdir``; the pass reads that file."""
        params = ytdlp_params(self.opts, clip, workdir)
        params["logger"] = logger
        report = workdir / "ffmpeg-report.log"
        ydl = self._ydl(params)
        with ffmpeg_report(report):
            done = self._run_ytdlp(lambda: ydl.process_ie_result(info, download=True), report)
        path = self._downloaded_file(done, workdir)
        ff = _read_report(report)
        problem = classify(ff, default=None) if ff else None
        if problem is not None and problem.transient:
            # ffmpeg exits 0 on a body cut short ("Stream ends prematurely"): a partial file is a failure.
            raise ClipFailure(problem, f"ffmpeg: {ff}")
        size = path.stat().st_size
        if self.opts.max_filesize and size >= self.opts.max_filesize:
            raise ClipFailure(Status.TOO_LARGE, f"segment reached --max-filesize ({self.opts.max_filesize} bytes)")
        seg = PassInput(local_input(path).url, seek_timestamp=True)
        return Resolved([seg], SEGMENT_TS_OFFSET, clip.duration, "segment_download", size=size,
                        source_duration=info.get("duration"), notes=logger.warnings[:5])

    @staticmethod
    def _downloaded_file(info: dict | None, workdir: Path) -> Path:
        for d in (info or {}).get("requested_downloads") or []:
            fp = d.get("filepath")
            if fp and Path(fp).is_file():
                return Path(fp)
        found = sorted(p for p in workdir.glob("segment.*") if p.suffix not in _SKIP_EXTS)
        if found:
            return found[0]
        raise ClipFailure(Status.ERROR, "yt-dlp reported success but wrote no file")


# ----------------------------------------------------------------------------------------------------
# Local directory of full videos
# ----------------------------------------------------------------------------------------------------
_INDEX_CACHE: dict[str, tuple[int, dict[str, Path]]] = {}


def index_video_dir(video_dir: str | os.PathLike) -> dict[str, Path]:
    """``ytid -> path`` for files named ``{ytid}.{ext}`` (the preferred extension wins), cached per process
    until the directory changes (one listing per worker, not one per clip, even with a million files)."""
    key = str(Path(video_dir).resolve())
    mtime = os.stat(key).st_mtime_ns
    cached = _INDEX_CACHE.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    rank = {ext: i for i, ext in enumerate(VIDEO_EXTS)}
    best: dict[str, tuple[tuple[int, str], Path]] = {}
    with os.scandir(key) as it:
        for entry in it:
            name = entry.name
            if len(name) < 13 or name[11] != "." or not YTID_RE.match(name[:11]):
                continue
            ext = name[11:].lower()
            if ext in _SKIP_EXTS or not entry.is_file():
                continue
            order = (rank.get(ext, len(rank)), name)
            ytid = name[:11]
            if ytid not in best or order < best[ytid][0]:
                best[ytid] = (order, Path(entry.path))
    index = {ytid: p for ytid, (_, p) in best.items()}
    _INDEX_CACHE[key] = (mtime, index)
    return index


class LocalSource:
    name = "local"
    needs_workdir = False

    def __init__(self, opts: DownloadOptions):
        self.opts = opts
        self.video_dir = Path(opts.video_dir)

    def prepare(self) -> None:
        index_video_dir(self.video_dir)  # list the directory once, before workers fork

    def fetch(self, clip: ClipRef, workdir: Path) -> Resolved:
        try:
            path = index_video_dir(self.video_dir).get(clip.ytid)
        except OSError as e:
            raise ClipFailure(Status.ERROR, f"cannot list --video-dir {self.video_dir}: {e}") from None
        if path is None:
            raise ClipFailure(Status.UNAVAILABLE, f"no file named {clip.ytid}.<ext> in {self.video_dir}")
        size = path.stat().st_size
        if self.opts.max_filesize and size > self.opts.max_filesize:
            raise ClipFailure(Status.TOO_LARGE, f"{path.name} is {size} bytes > --max-filesize {self.opts.max_filesize}")
        return Resolved([local_input(path)], clip.start, clip.duration, "local", size=size)


def make_source(opts: DownloadOptions) -> Source:
    return LocalSource(opts) if opts.source == "local" else YtDlpSource(opts)


# ----------------------------------------------------------------------------------------------------
# Retries
# ----------------------------------------------------------------------------------------------------
def backoff(attempt: int, wait: float, max_wait: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): wait * 2^(attempt-1), capped, +-20 %."""
    base = min(max_wait, wait * 2 ** (attempt - 1))
    return base * (rng or random).uniform(0.8, 1.2)


def retry_transient(
    call: Callable[[int], T],
    retries: int,
    wait: float,
    max_wait: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run ``call(attempt)``; retry with exponential back-off while it fails for a transient reason.

    Returns (result, attempts). A final failure is re-raised with ``attempts`` set on it.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call(attempt), attempt
        except ClipFailure as failure:
            if not failure.reason.transient or attempt > retries:
                failure.attempts = attempt
                raise
            sleep(backoff(attempt, wait, max_wait))
