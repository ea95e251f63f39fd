"""``valor-data doctor``: what a real fetch needs on this machine, and whether it is there.

Each check is a small function returning :class:`Check` rows; :func:`run_checks` runs those that matter
for a ``--source`` (and a distributor) and marks which of them the run cannot do without. Nothing here
touches the network: versions, files and executables only, so it runs offline and in tests.

What is checked and why:
* ffmpeg: the normaliser's encoders (libx264, FLAC) and the decoders of what sources serve - YouTube's
  default format picks AV1 or VP9 video and Opus audio (H.264/AAC otherwise); HEVC turns up in uploads and
  local copies. ffmpeg's native ``av1`` decoder needs hardware acceleration, so AV1 needs libdav1d or
  libaom. PyAV (the probe) brings its own FFmpeg: its decoders are checked too. ffprobe is reported
  (yt-dlp's post-processors use it; fetch turns those off).
* yt-dlp: its version and age (YouTube changes often and breaks old releases), the JavaScript runtime
  valor hands it (yt-dlp's own verdict on the version) and the ``yt-dlp-ejs`` scripts it expects.
* ``--cookies``: readable by yt-dlp's own cookie jar (Netscape format), holding unexpired cookies.
* Java and pyspark (Spark; Java also runs METEOR in valor-bench), and free space where ``--out`` goes.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from http.cookiejar import LoadError, MozillaCookieJar
from pathlib import Path

from valor_data.fetch.jsruntime import preferred_runtime, ytdlp_info
from valor_data.fetch.sources import SOURCES, index_video_dir

# yt-dlp release since which YouTube needs a JavaScript runtime plus yt-dlp-ejs.
YTDLP_JS_SINCE = (2025, 11, 12)
MAX_YTDLP_AGE_DAYS = 90
MIN_FREE_BYTES = 2**30
# codec -> (what, ffmpeg decoders that decode it in software, the sources a run cannot do without it)
DECODERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "av1": ("AV1 video", ("libdav1d", "libaom-av1"), ("youtube",)),
    "vp9": ("VP9 video", ("vp9", "libvpx-vp9"), ("youtube",)),
    "h264": ("H.264 video", ("h264",), SOURCES),
    "hevc": ("HEVC video", ("hevc",), ()),
    "opus": ("Opus audio", ("opus", "libopus"), ("youtube",)),
    "aac": ("AAC audio", ("aac", "aac_fixed"), SOURCES),
}
ENCODERS = {"libx264": "H.264 video", "flac": "FLAC audio"}  # what the normaliser writes


@dataclass
class Check:
    """One row of the doctor's table. ``ok`` None: not applicable (nothing to check)."""

    name: str
    ok: bool | None
    detail: str
    required: bool = False

    @property
    def status(self) -> str:
        if self.ok is None:
            return "-"
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "warning"

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


@dataclass(frozen=True)
class DoctorOptions:
    source: str = "youtube"
    out: str = "."
    cookies: str | None = None
    video_dir: str | None = None
    distributor: str = "multiprocessing"
    min_free: int = MIN_FREE_BYTES
    max_ytdlp_age_days: int = MAX_YTDLP_AGE_DAYS

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}: choose one of {', '.join(SOURCES)}")


def _run(args: Sequence[str], timeout: float = 20.0) -> str | None:
    """stdout + stderr of a command, or None when it cannot run."""
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout + proc.stderr


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


# ----------------------------------------------------------------------------------------------------
# ffmpeg, ffprobe, PyAV
# ----------------------------------------------------------------------------------------------------
def ffmpeg_codecs(ffmpeg: str) -> tuple[set[str], set[str]]:
    """(decoder names, encoder names) that ``ffmpeg`` was built with."""
    names: dict[str, set[str]] = {}
    for what in ("decoders", "encoders"):
        out = _run([ffmpeg, "-hide_banner", f"-{what}"]) or ""
        found = set()
        for line in out.splitlines():
            m = re.match(r"^\s*[VASDFXBI.]{6}\s+(\S+)\s", line)
            if m and m.group(1) != "=":
                found.add(m.group(1))
        names[what] = found
    return names["decoders"], names["encoders"]


def check_ffmpeg(opts: DoctorOptions) -> list[Check]:
    rows = []
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    install = "install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"
    version = _first_line(_run([ffmpeg, "-version"])) if ffmpeg else ""
    rows.append(Check("ffmpeg", bool(version), f"{ffmpeg}: {version}" if version else f"not on PATH: {install}",
                      required=True))
    probe_version = _first_line(_run([ffprobe, "-version"])) if ffprobe else ""
    rows.append(Check("ffprobe", bool(probe_version),
                      f"{ffprobe}: {probe_version}" if probe_version else
                      "not on PATH (yt-dlp's post-processors use it; fetch turns them off)"))
    decoders, encoders = ffmpeg_codecs(ffmpeg) if version else (set(), set())
    pyav = _pyav_decoders()
    for codec, (what, software, sources) in DECODERS.items():
        in_ffmpeg = [d for d in software if d in decoders]
        in_pyav = [d for d in software if d in pyav]
        if codec == "av1" and not in_ffmpeg and "av1" in decoders:
            ff = "only the native av1 decoder, which needs hardware acceleration"
        else:
            ff = ", ".join(in_ffmpeg) or "none"
        required = opts.source in sources
        why = f"--source {opts.source} meets it" if required else "needed only for media that use it"
        rows.append(Check(f"decode {what}", bool(in_ffmpeg and in_pyav),
                          f"ffmpeg: {ff}; PyAV: {', '.join(in_pyav) or 'none'} ({why})", required=required))
    for encoder, what in ENCODERS.items():
        rows.append(Check(f"encode {what}", encoder in encoders,
                          f"ffmpeg: {encoder if encoder in encoders else 'no ' + encoder} (the normaliser writes it)",
                          required=True))
    return rows


def _pyav_decoders() -> set[str]:
    try:
        import av  # optional extra: data (doctor reports it missing)
    except ImportError:
        return set()
    found = set()
    for name in {d for _, software, _ in DECODERS.values() for d in software}:
        try:
            av.codec.Codec(name, "r")
        except Exception:  # PyAV raises its own UnknownCodecError (a ValueError) or FFmpeg errors
            continue
        found.add(name)
    return found


# ----------------------------------------------------------------------------------------------------
# yt-dlp, its JavaScript runtime and EJS
# ----------------------------------------------------------------------------------------------------
def _version_date(version: str) -> dt.date | None:
    m = re.match(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", version)
    if not m:
        return None
    try:
        return dt.date(*map(int, m.groups()))
    except ValueError:
        return None


def check_ytdlp(opts: DoctorOptions) -> list[Check]:
    youtube = opts.source == "youtube"
    needs = opts.source in ("youtube", "mirror")
    try:
        from yt_dlp.version import __version__ as version  # optional extra: data (doctor reports it missing)
    except ImportError:
        return [Check("yt-dlp", False, "not installed: pip install 'yt-dlp[default,deno]'", required=needs)]
    released = _version_date(version)
    age = (dt.date.today() - released).days if released else None
    too_old_for_js = released is not None and (released.year, released.month, released.day) < YTDLP_JS_SINCE
    stale = age is not None and age > opts.max_ytdlp_age_days
    detail = f"{version}" + (f", released {age} days ago" if age is not None else "")
    if too_old_for_js:
        detail += (f"; older than {'.'.join(map(str, YTDLP_JS_SINCE))}, which YouTube now needs: "
                   "pip install -U 'yt-dlp[default,deno]'")
    elif stale:
        detail += (f"; more than {opts.max_ytdlp_age_days} days old (YouTube breaks old releases): "
                   "pip install -U 'yt-dlp[default,deno]'")
    rows = [Check("yt-dlp", not (youtube and (too_old_for_js or stale)), detail, required=needs)]
    rows.append(_check_js_runtime(youtube))
    rows.append(_check_ejs(youtube))
    return rows


def _check_js_runtime(required: bool) -> Check:
    runtime = preferred_runtime()
    if runtime is None:
        return Check("JavaScript runtime", False, "none found (deno, node, bun or qjs): pip install deno, or "
                     "install one on PATH; YouTube's challenges need it", required=required)
    info = ytdlp_info(runtime)
    if info is None:
        version = _first_line(_run([runtime.path, "--version"]))
        return Check("JavaScript runtime", bool(version), f"{runtime.name} at {runtime.path}: "
                     f"{version or 'does not run'} (passed to yt-dlp as js_runtimes)", required=required)
    supported = info.supported is not False
    return Check("JavaScript runtime", supported,
                 f"{runtime.name} {info.version} at {runtime.path} (passed to yt-dlp as js_runtimes)"
                 + ("" if supported else "; too old for yt-dlp: update it"), required=required)


def _check_ejs(required: bool) -> Check:
    try:
        installed = importlib.metadata.version("yt-dlp-ejs")
    except importlib.metadata.PackageNotFoundError:
        return Check("yt-dlp-ejs", False, "not installed (YouTube's challenge scripts): "
                     "pip install 'yt-dlp[default]'", required=required)
    wanted = None
    for req in importlib.metadata.requires("yt-dlp") or []:
        m = re.match(r"^yt-dlp-ejs\s*==\s*([^;\s]+)\s*;.*extra\s*==\s*['\"]default['\"]", req)
        if m:
            wanted = m.group(1)
    if wanted and wanted != installed:
        return Check("yt-dlp-ejs", False, f"{installed} installed, this yt-dlp expects {wanted}: "
                     "pip install -U 'yt-dlp[default]'", required=required)
    return Check("yt-dlp-ejs", True, f"{installed}" + (" (the version yt-dlp expects)" if wanted else ""),
                 required=required)


# ----------------------------------------------------------------------------------------------------
# Cookies, Java, Spark, disk, the local video directory
# ----------------------------------------------------------------------------------------------------
def check_cookies(opts: DoctorOptions) -> list[Check]:
    if not opts.cookies:
        return [Check("cookies", None, "no --cookies given (needed for age-restricted or members-only videos "
                      "and YouTube's bot checks)")]
    required = opts.source in ("youtube", "mirror")
    path = Path(opts.cookies)
    if not path.is_file() or not os.access(path, os.R_OK):
        return [Check("cookies", False, f"{path}: not a readable file", required=required)]
    try:  # the very reader yt-dlp will use
        from yt_dlp.cookies import YoutubeDLCookieJar as Jar  # optional extra: data
    except ImportError:
        Jar = MozillaCookieJar

    jar = Jar(str(path))
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except (LoadError, OSError, ValueError, UnicodeDecodeError) as e:
        return [Check("cookies", False, f"{path}: not a Netscape cookies file yt-dlp can read ({e}); export "
                      "it again (e.g. yt-dlp --cookies-from-browser firefox --cookies FILE)", required=required)]
    cookies = list(jar)
    if not cookies:
        return [Check("cookies", False, f"{path}: holds no cookies", required=required)]
    now = time.time()
    youtube = [c for c in cookies if c.domain.lstrip(".").endswith("youtube.com")]
    relevant = youtube if opts.source == "youtube" else cookies
    live = [c for c in relevant if not c.expires or c.expires > now]
    what = "youtube.com cookies" if opts.source == "youtube" else "cookies"
    if opts.source == "youtube" and not youtube:
        return [Check("cookies", False, f"{path}: {len(cookies)} cookies, none for youtube.com", required=required)]
    if not live:
        last = max(c.expires for c in relevant)
        return [Check("cookies", False, f"{path}: all {len(relevant)} {what} expired (the last on "
                      f"{dt.datetime.fromtimestamp(last, dt.timezone.utc):%Y-%m-%d}): export fresh ones",
                      required=required)]
    expired = len(relevant) - len(live)
    return [Check("cookies", True, f"{path}: {len(live)} unexpired {what}" + (f", {expired} expired" if expired else ""),
                  required=required)]


def check_java_spark(opts: DoctorOptions) -> list[Check]:
    spark = opts.distributor == "spark"
    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java") or (str(Path(java_home) / "bin" / "java") if java_home else None)
    version = _first_line(_run([java, "-version"])) if java and os.path.exists(java) else ""
    rows = [Check("Java", bool(version), f"{java}: {version}" if version else
                  "not found (Spark and valor-bench's METEOR need Java 17: apt-get install openjdk-17-jre-headless "
                  "or set JAVA_HOME)", required=spark)]
    try:
        pyspark = importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        pyspark = None
    rows.append(Check("pyspark", bool(pyspark), pyspark or "not installed (--distributor spark: pip install "
                      "'valor[spark]')", required=spark))
    return rows


def check_disk(opts: DoctorOptions) -> list[Check]:
    out = Path(opts.out).expanduser().absolute()
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    writable = os.access(existing, os.W_OK)
    enough = usage.free >= opts.min_free
    detail = f"{out}: {usage.free / 2**30:,.1f} GiB free"
    if not writable:
        detail += f"; {existing} is not writable"
    if not enough:
        detail += f" < {opts.min_free / 2**30:g} GiB"
    return [Check("disk (--out)", writable and enough, detail, required=True)]


def check_video_dir(opts: DoctorOptions) -> list[Check]:
    if opts.source != "local":
        return []
    if not opts.video_dir:
        return [Check("video dir", False, "--source local needs --video-dir DIR", required=True)]
    try:
        n = len(index_video_dir(opts.video_dir))
    except OSError as e:
        return [Check("video dir", False, f"{opts.video_dir}: {e.strerror or e}", required=True)]
    return [Check("video dir", n > 0, f"{opts.video_dir}: {n:,} videos named {{ytid}}.<ext>", required=True)]


CHECKS: tuple[Callable[[DoctorOptions], list[Check]], ...] = (
    check_ffmpeg, check_ytdlp, check_cookies, check_video_dir, check_java_spark, check_disk,
)


def run_checks(opts: DoctorOptions) -> list[Check]:
    """Every row of the table, for ``opts.source`` (and ``opts.distributor``)."""
    rows = [Check("python", True, f"{sys.version.split()[0]} ({sys.executable})")]
    for check in CHECKS:
        rows.extend(check(opts))
    return rows


def youtube_problems() -> list[str]:
    """What stops YouTube downloads here (yt-dlp, its JavaScript runtime, EJS), one line each: for
    ``fetch --source youtube`` to warn about before a long run fails clip by clip."""
    return [f"{r.name}: {r.detail}" for r in missing(check_ytdlp(DoctorOptions(source="youtube")))]


def missing(rows: Sequence[Check]) -> list[Check]:
    """The rows a run cannot do without that failed."""
    return [r for r in rows if r.required and r.ok is False]
