"""Fixtures for the shard tests: a fetch output directory built with ffmpeg lavfi, no network.

The directory follows the fetch contract (valor_data.clip.MANIFEST_SCHEMA): normalised video-only
H.264 mp4s, 16 kHz mono FLACs, and manifest rows for ok clips and for failures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from valor_data.clip import MANIFEST_SCHEMA, ClipRef

# (ytid, start, end, labels, captions): ids with '-' first and '_' inside, a clip without captions.
OK_CLIPS = [
    ("-2Abohj8VYx", 30.0, 40.0, ["/m/04rlf"], ["a man plays guitar while people cheer"]),
    ("a_b_c_d_e_f", 1.5, 11.5, ["/m/09x0r", "/m/0jbk"], ["a dog barks", "a dog barks twice at night"]),
    ("Agi5ySKb1tY", 23.7, 33.7, ["/m/0unknown"], []),
    ("zzzzzzzzzzz", 0.0, 10.0, [], ["rain falls on a roof"]),
    ("B0000000000", 5.0, 15.0, ["/m/04rlf"], ["   "]),
    ("C1111111111", 60.0, 70.0, ["/m/09x0r"], ["a woman speaks"]),
    ("D2222222222", 0.0, 10.0, [], ["an engine idles"]),
]
FAILED = [
    ("E3333333333", 0.0, 10.0, "unavailable", "HTTP Error 404: Not Found"),
    ("F4444444444", 0.0, 10.0, "silent", "audio RMS -91.0 dB below -60.0 dB"),
    ("G5555555555", 10.0, 20.0, "frozen", "frame differences 0.0 below 0.5"),
]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_media(video: Path, audio: Path, seconds: float = 1.0, freq: int = 440, pattern: str = "testsrc") -> None:
    """A normalised pair as fetch writes it: video-only H.264 mp4 (+faststart), 16 kHz mono FLAC."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"{pattern}=size=128x96:rate=10:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart",
        "-fflags", "+bitexact", str(video),
    )  # fmt: skip
    _ffmpeg(
        "-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=16000:duration={seconds}",
        "-ac", "1", "-ar", "16000", "-c:a", "flac", "-fflags", "+bitexact", str(audio),
    )  # fmt: skip


def build_fetch_dir(root: Path, n_extra: int = 0) -> Path:
    """A fetch output dir with OK_CLIPS (+ n_extra more ok clips) and the FAILED rows."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "clips").mkdir(exist_ok=True)
    clips = list(OK_CLIPS) + [
        (f"X{i:010d}", float(i), float(i) + 10, ["/m/04rlf"], [f"extra clip number {i}"]) for i in range(n_extra)
    ]
    rows = []
    for i, (ytid, start, end, labels, caps) in enumerate(clips):
        ref = ClipRef.from_seconds(ytid, start, end)
        video, audio = f"clips/{ref.key}.mp4", f"clips/{ref.key}.flac"
        make_media(root / video, root / audio, freq=220 + 40 * i, pattern="testsrc" if i % 2 else "testsrc2")
        probe = {  # as fetch writes it: facts of the downloaded segment, "output" those of the normalised files
            "duration": 10.0, "has_video": True, "has_audio": True, "width": 320, "height": 240, "fps": 25.0,
            "vcodec": "h264", "acodec": "aac", "sample_rate": 44100, "channels": 2, "rms_db": -12.5,
            "motion": 9.1, "luma": 110.2, "frames_sampled": 5,
            "output": {"width": 128, "height": 96, "fps": 10.0, "frames": 10, "duration": 1.0,
                       "sample_rate": 16000, "channels": 1, "audio_duration": 1.0},
        }  # fmt: skip
        rows.append(_row(ref, labels, caps, "ok", "", video, audio, json.dumps(probe), root))
    for ytid, start, end, reason, message in FAILED:
        rows.append(_row(ClipRef.from_seconds(ytid, start, end), [], ["never fetched"], reason, message, None, None, None, root))
    rows.append({**_row(ClipRef.from_seconds("H6666666666", 0, 10), [], [], "invalid_id", "", None, None, None, root),
                 "clip_id": "bad_row", "key": "bad_row:3", "ytid": ""})  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), root / "manifest.parquet")
    return root


def _row(ref, labels, caps, status, message, video, audio, probe, root):
    return {
        "clip_id": ref.clip_id, "key": ref.key, "ytid": ref.ytid, "start": ref.start, "end": ref.end,
        "labels": labels, "captions": caps, "source": "inputs.json:1", "status": status, "message": message,
        "attempts": 1, "download_s": 0.1, "process_s": 0.2,
        "video_bytes": (root / video).stat().st_size if video else None,
        "audio_bytes": (root / audio).stat().st_size if audio else None,
        "video_path": video, "audio_path": audio, "probe": probe, "shard": None,
    }  # fmt: skip


@pytest.fixture(scope="session")
def fetch_dir_template(tmp_path_factory) -> Path:
    return build_fetch_dir(tmp_path_factory.mktemp("fetch_template"))


@pytest.fixture
def fetch_dir(fetch_dir_template, tmp_path) -> Path:
    """A private copy of the fetch dir, free to edit."""
    return Path(shutil.copytree(fetch_dir_template, tmp_path / "fetch"))


@pytest.fixture(scope="session")
def sharded_template(fetch_dir_template, tmp_path_factory) -> Path:
    """The fixture fetch dir sharded with --shard-size 3 (3 shards: 3 + 3 + 1 samples)."""
    from click.testing import CliRunner

    from valor_data.cli import main

    out = tmp_path_factory.mktemp("sharded") / "shards"
    res = CliRunner().invoke(main, ["shard", str(fetch_dir_template), "--out", str(out), "--shard-size", "3"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def sharded(sharded_template, tmp_path) -> Path:
    return Path(shutil.copytree(sharded_template, tmp_path / "shards"))
