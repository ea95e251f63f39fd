"""Every source encoding a crawl meets comes out right or is rejected with a reason, through `--source local` and
`--source mirror` alike, read back with the media's own clock (valor_data.synthetic.encodings): the right
seconds of picture and sound, in sync, as a player shows them; outputs checked and hashed in the manifest;
byte-identical reruns whatever --workers.

The default run covers the fast part of the matrix; `make test-slow` runs the whole matrix, Spark included."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.fetch.normalize import output_size
from valor_data.synthetic.encodings import (
    ENCODINGS,
    FAST_MATRIX,
    clock_problems,
    make_source,
    matrix_ytid,
    read_audio_clock,
    read_video_clock,
    reference_files,
    source_files,
)
from valor_data.synthetic.mirror import Fault, Mirror

DURATION = 6.0  # seconds of every source
MID, START = (1.3, 4.3), (0.0, 3.0)  # segments: inside the source, and from its very start
PAST_END = {"h264_aac_mp4": (3.5, 6.5), "vp9_opus_webm": (3.5, 6.5), "h264_aac_ts": (3.5, 6.5),
            "h264_audio_short_mkv": (2.4, 5.4)}  # the source, or its sound, ends inside the segment
CHECKS = ["video_stream", "size", "aspect", "square_pixels", "no_rotation", "fps", "video_start", "video_duration",
          "audio_format", "audio_duration", "source_frames"]
FAST = ["--retries", "1", "--retry-wait", "0.05", "--socket-timeout", "2", "--no-progress", "--json"]
FILE_KINDS = [n for n in ENCODINGS if ENCODINGS[n].layout_kind == "file"]  # what a local directory can hold


class Matrix:
    """The session's sources, made on first use (the slow ones only when a slow test asks)."""

    def __init__(self, root: Path):
        self.root = root
        self.paths: dict[str, Path] = {}
        self.lock = threading.Lock()

    def path(self, name: str) -> Path:
        with self.lock:
            if name not in self.paths:
                self.paths[name] = make_source(self.root / f"{name}.{ENCODINGS[name].ext}", name, DURATION)
            return self.paths[name]

    def make(self, names) -> None:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(self.path, names))

    def video_dir(self, names, where: Path) -> Path:
        """A --video-dir of the sources, named {ytid}.{ext}."""
        where.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.link(self.path(name), where / f"{matrix_ytid(name)}.{ENCODINGS[name].ext}")
        return where

    def mirror_root(self, names, where: Path) -> Path:
        """A mirror root serving each source at /{ytid} (no extension: yt-dlp and ffmpeg sniff the bytes),
        with the files an MPD or a playlist names beside it."""
        where.mkdir(parents=True, exist_ok=True)
        for name in names:
            first, *rest = source_files(self.path(name), name)
            os.link(first, where / matrix_ytid(name))
            for f in rest:
                os.link(f, where / f.name)
        return where


@pytest.fixture(scope="session")
def matrix(tmp_path_factory) -> Matrix:
    m = Matrix(tmp_path_factory.mktemp("encodings"))
    m.make(FAST_MATRIX)
    return m


def ids_file(path: Path, segments: dict[str, tuple[float, float]]) -> Path:
    path.write_text("".join(f"{matrix_ytid(n)}_{s:.3f}_{e:.3f}\n" for n, (s, e) in segments.items()))
    return path


def fetch(*args: str) -> dict:
    result = CliRunner().invoke(main, ["fetch", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows_by_clip(out: Path) -> dict[tuple[str, float, float], dict]:
    by_id = {matrix_ytid(n): n for n in ENCODINGS}
    return {(by_id[r["ytid"]], r["start"], r["end"]): r for r in pq.read_table(out / "manifest.parquet").to_pylist()}


def assert_right(matrix: Matrix, out: Path, row: dict, name: str) -> None:
    """An ok clip holds exactly the requested seconds, as a player shows them; its probe says what was
    checked and the media's sha256."""
    assert row["status"] == "ok", (name, row["status"], row["message"])
    video, audio = reference_files(matrix.path(name), name)
    shown = output_size(ENCODINGS[name].size, 224)
    problems = clock_problems(video, out / row["video_path"], out / row["audio_path"], row["start"], row["end"],
                              shown, audio_source=audio)
    assert problems == [], (name, problems)
    probe = json.loads(row["probe"])
    assert probe["output"]["checked"] == CHECKS
    assert probe["output"]["sha256"] == {
        "mp4": hashlib.sha256((out / row["video_path"]).read_bytes()).hexdigest(),
        "flac": hashlib.sha256((out / row["audio_path"]).read_bytes()).hexdigest()}
    assert probe["output"]["fps"] == pytest.approx(min(ENCODINGS[name].fps, 30), abs=1e-3)  # constant, capped


def test_sources_carry_their_clock(matrix):
    for name in ("h264_aac_mp4", "av1_svt_opus_webm", "h264_rot90_mp4", "h264_aac_ts"):
        video = read_video_clock(matrix.path(name))
        assert sorted(set(video.seconds)) == list(range(int(DURATION)))
        # stored turned clockwise, the player turns it back (rotate=90: a quarter turn counter-clockwise)
        assert set(video.corners) == {"top-right" if name == "h264_rot90_mp4" else "top-left"}
        audio = read_audio_clock(matrix.path(name))
        assert [k for _, k in audio.onsets] == list(range(1, int(DURATION)))
        assert all(abs(t - k) < 0.06 for t, k in audio.onsets)  # codec delays only


# ----------------------------------------------------------------------------------------------------
# --source local
# ----------------------------------------------------------------------------------------------------
LOCAL_FAST = [n for n in FAST_MATRIX if n in FILE_KINDS]


@pytest.fixture(scope="module")
def local_run(matrix, tmp_path_factory):
    root = tmp_path_factory.mktemp("enc_local")
    video_dir = matrix.video_dir(LOCAL_FAST, root / "videos")
    out = root / "out"
    segments = [{n: MID for n in LOCAL_FAST}, {n: START for n in LOCAL_FAST}, PAST_END]
    lines = "".join(ids_file(root / f"ids{i}.txt", s).read_text() for i, s in enumerate(segments))
    (root / "ids.txt").write_text(lines)
    summary = fetch(str(root / "ids.txt"), "--out", str(out), "--source", "local", "--video-dir", str(video_dir),
                    "--workers", "2", *FAST)
    return out, rows_by_clip(out), summary


@pytest.mark.parametrize("name", LOCAL_FAST)
def test_local_clip_holds_the_requested_seconds(matrix, local_run, name):
    out, rows, _ = local_run
    for segment in (MID, START):
        assert_right(matrix, out, rows[(name, *segment)], name)
        assert json.loads(rows[(name, *segment)]["probe"])["path"] == "local"


def test_local_sources_that_end_inside_the_segment_are_truncated(local_run):
    _, rows, summary = local_run
    for name, segment in PAST_END.items():
        row = rows[(name, *segment)]
        assert row["status"] == "truncated", (name, row["message"])
        assert row["video_path"] is None
    message = rows[("h264_aac_mp4", 3.5, 6.5)]["message"]
    assert re.match(r"the video lasts 2\.5\d\d s of the 3\.000 s segment; the audio lasts 2\.5\d\d s", message)
    assert message.endswith("(the source ends 2.500 s into the segment)")
    short = rows[("h264_audio_short_mkv", *PAST_END["h264_audio_short_mkv"])]["message"]
    assert short.startswith("the audio lasts 2.1") and "video" not in short  # the sound ends, the picture does not
    assert summary["counts"] == {"ok": 2 * len(LOCAL_FAST), "truncated": len(PAST_END)}
    assert summary["fallbacks"] == 0


def test_local_probe_facts_describe_source_and_output(local_run):
    _, rows, _ = local_run
    probe = json.loads(rows[("h264_rot90_mp4", *MID)]["probe"])
    assert probe["source"]["rotation"] == 90 and probe["source"]["pix_fmt"] == "yuvj420p"
    assert (probe["width"], probe["height"], probe["vcodec"]) == (160, 120, "h264")  # the source, as stored
    assert (probe["output"]["width"], probe["output"]["height"], probe["output"]["rotation"]) == (224, 298, 0)
    ts = json.loads(rows[("h264_aac_ts", *MID)]["probe"])
    assert ts["source"]["start_time"] == pytest.approx(1.4, abs=0.1)  # MPEG-TS: timestamps start late
    assert ts["output"]["preroll"] == 1.3  # no keyframe index: read from the keyframe before, the file's first
    fast = json.loads(rows[("h264_60fps_mp4", *MID)]["probe"])
    assert fast["fps"] == 60 and fast["output"]["fps"] == 30 and fast["output"]["frames"] == 90
    sar = json.loads(rows[("h264_sar_mp4", *MID)]["probe"])
    assert sar["source"]["sar"] == "4:3" and (sar["output"]["width"], sar["output"]["sar"]) == (398, "1:1")
    opus = json.loads(rows[("vp9_opus_webm", *MID)]["probe"])
    assert (opus["output"]["samples"], opus["output"]["sample_rate"], opus["output"]["channels"]) == (48000, 16000, 1)


def _lost_facts(written: dict, read: dict, at: str = "probe") -> list[str]:
    """The facts of ``written`` that ``read`` lacks or changed (floats up to float32-free rounding)."""
    lost = []
    for k, v in written.items():
        got = read.get(k)
        if isinstance(v, dict):
            lost += _lost_facts(v, got or {}, f"{at}.{k}")
        elif got != (pytest.approx(v) if isinstance(v, float) else v):
            lost.append(f"{at}.{k}: {v!r} read as {got!r}")
    return lost


def test_hugging_face_datasets_keeps_every_probe_fact(local_run, tmp_path):
    """`datasets` drops the struct fields its features do not name: the shipped spec names every fact fetch
    wrote for these sources (MPEG-TS adds the preroll, rotated and SAR sources their own source facts)."""
    from valor_data.shards.hf import load_hf  # optional extra: hf (datasets)

    out, rows, _ = local_run
    assert CliRunner().invoke(main, ["shard", str(out), "--out", str(tmp_path / "shards")]).exit_code == 0
    ds = load_hf(tmp_path / "shards", cache_dir=str(tmp_path / "hf"))
    written = {r["key"]: json.loads(r["probe"]) for r in rows.values() if r["status"] == "ok"}
    assert ds.num_rows == len(written) == 2 * len(LOCAL_FAST)
    for sample in ds:
        assert _lost_facts(written[sample["__key__"]], sample["json"]["probe"]) == [], sample["__key__"]


# ----------------------------------------------------------------------------------------------------
# --source mirror: yt-dlp resolves, one ffmpeg reads the URLs (split DASH: two inputs); HLS falls back
# ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mirror_run(matrix, tmp_path_factory):
    root = tmp_path_factory.mktemp("enc_mirror")
    served = matrix.mirror_root(FAST_MATRIX, root / "served")
    segments = {n: MID for n in FAST_MATRIX}
    ids = ids_file(root / "ids.txt", segments)
    past = ids_file(root / "past.txt", {"dash_h264_aac": (3.5, 6.5), "h264_aac_ts": (3.5, 6.5)})
    ids.write_text(ids.read_text() + past.read_text())
    out = root / "out"
    with Mirror(served) as mirror:
        summary = fetch(str(ids), "--out", str(out), "--source", "mirror", "--url-template",
                        mirror.base_url + "/{ytid}", "--workers", "2", *FAST)
        log = mirror.log
    return out, rows_by_clip(out), summary, log


@pytest.mark.parametrize("name", FAST_MATRIX)
def test_mirror_clip_holds_the_requested_seconds(matrix, mirror_run, name):
    out, rows, _, _ = mirror_run
    row = rows[(name, *MID)]
    assert_right(matrix, out, row, name)
    way = json.loads(row["probe"])["path"]
    assert way == ("segment_download" if ENCODINGS[name].layout_kind == "hls" else "one_pass")


def test_mirror_reads_split_dash_as_two_inputs_and_only_the_segment(matrix, mirror_run):
    out, rows, summary, log = mirror_run
    # the MPD's video-only and audio-only files are each read by the pass with Range requests
    for media in ("dash_h264_aac_v.mp4", "dash_h264_aac_a.m4a"):
        assert any(r.name == media and r.status == 206 for r in log), media
    assert rows[("dash_h264_aac", 3.5, 6.5)]["status"] == "truncated"
    assert rows[("h264_aac_ts", 3.5, 6.5)]["status"] == "truncated"
    assert summary["fallbacks"] == 1  # HLS only: yt-dlp downloads the segment, the pass reads it
    assert summary["counts"] == {"ok": len(FAST_MATRIX), "truncated": 2}


def test_local_and_mirror_write_the_same_files(local_run, mirror_run):
    """The same source and segment give the same bytes whether the pass reads a file or a URL."""
    local_out, local_rows, _ = local_run
    mirror_out, mirror_rows, _, _ = mirror_run
    for name in LOCAL_FAST:
        a, b = local_rows[(name, *MID)], mirror_rows[(name, *MID)]
        assert json.loads(a["probe"])["output"]["sha256"] == json.loads(b["probe"])["output"]["sha256"], name


# ----------------------------------------------------------------------------------------------------
# Failures during the pass keep the real message and are retried
# ----------------------------------------------------------------------------------------------------
def test_mirror_faults_are_classified(matrix, tmp_path):
    names = ["h264_aac_mp4", "vp9_opus_webm", "h264_aac_ts", "h264_vfr_mp4"]
    served = matrix.mirror_root(names, tmp_path / "served")
    ids = ids_file(tmp_path / "ids.txt", {n: MID for n in names})
    faults = {matrix_ytid("h264_aac_mp4"): Fault("403"),
              matrix_ytid("vp9_opus_webm"): Fault("truncate", fraction=0.6),  # the pass reads past 60 %
              matrix_ytid("h264_aac_ts"): Fault("429", times=2),
              matrix_ytid("h264_vfr_mp4"): Fault("stall", stall_s=4.0, ranged_only=True)}
    with Mirror(served, faults=faults) as mirror:
        summary = fetch(str(ids), "--out", str(tmp_path / "out"), "--source", "mirror", "--url-template",
                        mirror.base_url + "/{ytid}", "--workers", "1", "--retries", "2", "--retry-wait", "0.05",
                        "--socket-timeout", "1", "--no-progress", "--json")
    rows = {k[0]: r for k, r in rows_by_clip(tmp_path / "out").items()}
    forbidden = rows["h264_aac_mp4"]
    assert (forbidden["status"], forbidden["attempts"]) == ("network", 3) and "403" in forbidden["message"]
    cut = rows["vp9_opus_webm"]
    assert cut["status"] == "network" and "Stream ends prematurely" in cut["message"] and cut["attempts"] == 3
    assert (rows["h264_aac_ts"]["status"], rows["h264_aac_ts"]["attempts"]) == ("ok", 3)  # 429, 429, served
    stalled = rows["h264_vfr_mp4"]
    assert stalled["status"] == "timeout" and "timed out" in stalled["message"]
    assert summary["counts"] == {"ok": 1, "network": 2, "timeout": 1}


# ----------------------------------------------------------------------------------------------------
# Byte-identical reruns
# ----------------------------------------------------------------------------------------------------
VARIED = ["h264_aac_mp4", "h264_aac_mp4_moov_end", "vp9_opus_webm", "vp9_10bit_webm", "av1_svt_opus_webm",
          "hevc_aac_mp4", "h264_60fps_mp4", "h264_vfr_mp4", "h264_sar_mp4", "h264_rot90_mp4", "aac_51_mp4",
          "h264_aac_ts", "dash_h264_aac", "hls_h264_aac"]


def media_digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "clips").rglob("*")) if p.is_file()}


def test_reruns_are_byte_identical_whatever_the_workers(matrix, tmp_path):
    served = matrix.mirror_root(VARIED, tmp_path / "served")
    ids = ids_file(tmp_path / "ids.txt", {n: (0.7, 3.7) for n in VARIED})
    digests = []
    with Mirror(served) as mirror:
        for workers in (1, 2, 3):
            out = tmp_path / f"out{workers}"
            summary = fetch(str(ids), "--out", str(out), "--source", "mirror", "--url-template",
                            mirror.base_url + "/{ytid}", "--workers", str(workers), "--task-size", "3", *FAST)
            assert summary["counts"] == {"ok": len(VARIED)}
            digests.append(media_digests(out))
            probes = [json.loads(r["probe"]) for r in pq.read_table(out / "manifest.parquet").to_pylist()]
            assert sorted(d for p in probes for d in p["output"]["sha256"].values()) == sorted(digests[-1].values())
    assert len(digests[0]) == 2 * len(VARIED)
    assert digests[0] == digests[1] == digests[2]


# ----------------------------------------------------------------------------------------------------
# The whole matrix (make test-slow)
# ----------------------------------------------------------------------------------------------------
SLOW_SEGMENTS = (MID, START, (2.02, 5.98))


@pytest.mark.slow
def test_full_matrix_local_and_mirror(matrix, tmp_path):
    names = list(ENCODINGS)
    matrix.make(names)
    local_names = [n for n in names if n in FILE_KINDS]
    video_dir = matrix.video_dir(local_names, tmp_path / "videos")
    served = matrix.mirror_root(names, tmp_path / "served")
    lines = "".join(ids_file(tmp_path / f"i{i}.txt", {n: seg for n in names}).read_text()
                    for i, seg in enumerate(SLOW_SEGMENTS))
    (tmp_path / "ids.txt").write_text(lines)
    local_lines = "".join(line + "\n" for line in lines.splitlines()
                          if any(line.startswith(matrix_ytid(n)) for n in local_names))
    (tmp_path / "local_ids.txt").write_text(local_lines)
    fetch(str(tmp_path / "local_ids.txt"), "--out", str(tmp_path / "local"), "--source", "local", "--video-dir",
          str(video_dir), "--workers", "2", *FAST)
    with Mirror(served) as mirror:
        fetch(str(tmp_path / "ids.txt"), "--out", str(tmp_path / "mirror"), "--source", "mirror", "--url-template",
              mirror.base_url + "/{ytid}", "--workers", "2", *FAST)
    for out in (tmp_path / "local", tmp_path / "mirror"):
        for (name, *_), row in rows_by_clip(out).items():
            if name == "h264_audio_short_mkv" and row["end"] > 4.5:
                assert row["status"] in ("truncated", "too_short"), row["message"]
                continue
            assert_right(matrix, out, row, name)


@pytest.mark.slow
@pytest.mark.spark
def test_pool_and_spark_from_scratch_give_identical_tars(matrix, tmp_path):
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    pytest.importorskip("pyspark")
    served = matrix.mirror_root(VARIED, tmp_path / "served")
    ids = ids_file(tmp_path / "ids.txt", {n: (0.7, 3.7) for n in VARIED})
    tars = []
    with Mirror(served) as mirror:
        for distributor in ("multiprocessing", "spark"):
            out = tmp_path / distributor
            fetch(str(ids), "--out", str(out / "fetch"), "--source", "mirror", "--url-template",
                  mirror.base_url + "/{ytid}", "--workers", "2", "--task-size", "4", "--distributor", distributor,
                  *FAST)
            res = CliRunner().invoke(main, ["shard", str(out / "fetch"), "--out", str(out / "shards"),
                                            "--shard-size", "5", "--distributor", distributor, "--json"])
            assert res.exit_code == 0, res.output
            tars.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "shards").glob("*.tar")})
    assert len(tars[0]) == 3 and tars[0] == tars[1]
