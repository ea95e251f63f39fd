"""Fixtures for the fetch tests: synthetic source videos (made once per session) and the local mirror.

No network: clips come from ffmpeg's lavfi sources (valor_data.synthetic.media) served by valor_data.synthetic.mirror,
which honours Range requests and injects faults per file.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from valor_data.clip import ClipRef
from valor_data.fetch.filters import DEFAULT_FILTERS, build_filters
from valor_data.fetch.plan import FetchOptions, FetchTask
from valor_data.fetch.process import download_clip, finish_clip
from valor_data.fetch.sources import DownloadOptions, make_source
from valor_data.synthetic.media import make_clip
from valor_data.synthetic.mirror import Fault, Mirror

SEGMENT = (0.5, 3.5)  # seconds of every 4-second source below
# ytid -> synthetic kind; ids exercise a leading '-' and '_' inside.
SOURCES = {
    "-okAAAAAAA1": "ok",
    "ok_BBBBBBB2": "ok",
    "noaudioCCC3": "no_audio",
    "novideoDDD4": "no_video",
    "silentEEEE5": "silent",
    "frozenFFFF6": "frozen",
    "blackGGGGG7": "black",
    "shortHHHHH8": "short",
    "corruptIII9": "corrupt",
    "f404JJJJJ10": "ok",
    "f429KKKKK11": "ok",
    "f500LLLLL12": "ok",
    "ftruncMMM13": "ok",
    "fstallNNN14": "ok",
    "fmidstall17": "ok",
}
MISSING = "missingOO15"  # no file at all
LONG = ("longRANGE16", 12.0, (8.0, 11.0))  # a longer source: the segment lies far into the file
FAULTS = {
    "f404JJJJJ10.mp4": Fault("404"),
    "f429KKKKK11.mp4": Fault("429", times=2),
    "f500LLLLL12.mp4": Fault("500"),
    "ftruncMMM13.mp4": Fault("truncate", fraction=0.5),
    "fstallNNN14.mp4": Fault("stall", stall_s=3.0),
    # yt-dlp's own request is served, then ffmpeg's segment read hangs (cut by ffmpeg's -rw_timeout)
    "fmidstall17.mp4": Fault("stall", stall_s=3.0, ranged_only=True),
}
# What `fetch --source mirror --retries 2` must record for each clip.
EXPECTED_MIRROR = {
    "-okAAAAAAA1": "ok",
    "ok_BBBBBBB2": "ok",
    "noaudioCCC3": "no_audio",
    "novideoDDD4": "no_video",
    "silentEEEE5": "silent",
    "frozenFFFF6": "frozen",
    "blackGGGGG7": "black",
    "shortHHHHH8": "too_short",
    "corruptIII9": "decode_error",
    "f404JJJJJ10": "unavailable",
    "f429KKKKK11": "ok",
    "f500LLLLL12": "network",
    "ftruncMMM13": "network",
    "fstallNNN14": "timeout",
    "fmidstall17": "timeout",
    MISSING: "unavailable",
    LONG[0]: "ok",
}


def clip_id(ytid: str, segment: tuple[float, float] = SEGMENT) -> str:
    return f"{ytid}_{segment[0]:.3f}_{segment[1]:.3f}"


@pytest.fixture(scope="session")
def source_dir(tmp_path_factory) -> Path:
    """Full source videos named {ytid}.mp4 (4 s, 160x120, 25 fps) plus a 12-s 320x240 noisy one."""
    root = tmp_path_factory.mktemp("sources")
    for i, (ytid, kind) in enumerate(SOURCES.items()):
        make_clip(root / f"{ytid}.mp4", kind, duration=4.0, size=(160, 120), seed=i)
    # Noisy frames make it large (~2 MB), so ffmpeg must seek with a Range request rather than read on.
    make_clip(root / f"{LONG[0]}.mp4", "ok", duration=LONG[1], size=(320, 240), seed=99, noise=10)
    return root


def arm_faults(mirror: Mirror) -> None:
    """Inject FAULTS afresh (429 counts reset)."""
    for name, fault in FAULTS.items():
        mirror.set_fault(name, Fault(fault.kind, fault.times, fault.stall_s, fault.fraction, fault.ranged_only))


def disarm_faults(mirror: Mirror) -> None:
    for name in FAULTS:
        mirror.set_fault(name, None)


def fetch_one(path: Path, start: float, end: float, work: Path, filters: tuple[str, ...] = DEFAULT_FILTERS,
              thresholds: dict[str, float] | None = None) -> dict:
    """One local video through fetch's own per-clip path (``download_clip`` -> ``finish_clip``: the pass,
    ``read_outputs`` on the pass's thumbnails, the filters, the output checks): the clip's manifest row."""
    ytid = "fetchOne" + f"{len(list(work.glob('*'))):03d}"
    videos = work / ytid
    videos.mkdir(parents=True)
    (videos / f"{ytid}{path.suffix}").symlink_to(Path(path).resolve())
    options = FetchOptions(download=DownloadOptions(source="local", video_dir=str(videos)), filters=tuple(filters),
                           thresholds=tuple((thresholds or {}).items()))
    clip = ClipRef.from_seconds(ytid, start, end)
    task = FetchTask(0, str(videos / "out"), (clip,), options)
    chosen = build_filters(options.filters, dict(options.thresholds))
    return finish_clip(download_clip(clip, task, make_source(options.download)), task, chosen)


@pytest.fixture(scope="session")
def spec() -> SimpleNamespace:
    """The constants and helpers above, for test modules (importlib mode cannot import conftest)."""
    return SimpleNamespace(SEGMENT=SEGMENT, SOURCES=SOURCES, MISSING=MISSING, LONG=LONG, FAULTS=FAULTS,
                           EXPECTED_MIRROR=EXPECTED_MIRROR, clip_id=clip_id, arm_faults=arm_faults,
                           disarm_faults=disarm_faults, fetch_one=fetch_one)


@pytest.fixture(scope="session")
def mirror_server(source_dir):
    """The session's mirror over source_dir, without faults."""
    with Mirror(source_dir) as m:
        yield m


@pytest.fixture(scope="session")
def ids_file(tmp_path_factory) -> Path:
    """Every mirror clip once, one duplicate (line 19) and two malformed rows (lines 20 and 21)."""
    path = tmp_path_factory.mktemp("inputs") / "clips.txt"
    lines = [clip_id(y) for y in SOURCES] + [clip_id(MISSING), clip_id(LONG[0], LONG[2])]
    lines += [clip_id("-okAAAAAAA1"), "not_a_clip", "tooShortId_1_2"]
    path.write_text("# clip ids\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def console_script() -> str:
    exe = Path(sys.executable).parent / "valor-data"
    return str(exe) if exe.exists() else shutil.which("valor-data") or "valor-data"
