"""Sources whose keyframes are far apart: every frame of the segment is one the decoder produced from the
source, whatever the distance back to the keyframe and whether the container has an index (MPEG-TS has
none: the probe finds the keyframe; FLV's demuxer builds one as it reads). Read back with the media's own
clock (valor_data.synthetic.encodings), through `--source local` and `--source mirror`. A source with a hole
in its video is rejected as `gap`, with the seconds; the check that finds it catches a decode that starts
after the segment does, whatever the cause."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.fetch.normalize import Cut, NormalizeOptions, local_input, normalize
from valor_data.fetch.probe import OutputFacts, OutputSpec, check_outputs, probe_input
from valor_data.synthetic.encodings import ENCODINGS, clock_problems, make_source, matrix_ytid
from valor_data.synthetic.media import run_ffmpeg
from valor_data.synthetic.mirror import Mirror

GOP_S = 10.0
DURATION = 32.0
SEGMENT_S = 4.0
BEFORE = (0.5, 2.6, 9.5, 0.0)  # the segment starts this long before the keyframe near 20 s (0: on it)
LONG_GOP = {name: replace(ENCODINGS[name], name=f"{name}_gop10", keyint_s=GOP_S,
                          video=(*ENCODINGS[name].video, "-sc_threshold", "0"))  # no extra keyframe at a cut
            for name in ("h264_aac_ts", "h264_aac_flv")}
FAST = ["--retries", "1", "--retry-wait", "0.05", "--socket-timeout", "2", "--no-progress", "--json"]


def keyframes(path: Path) -> list[float]:
    """Player times at which the video's keyframes are shown."""
    with av.open(os.fspath(path)) as c:
        v = c.streams.video[0]
        start = c.start_time / av.time_base
        return sorted(float(p.pts * v.time_base) - start for p in c.demux(v) if p.pts is not None and p.is_keyframe)


def segments(path: Path) -> list[tuple[float, float]]:
    """The segments of BEFORE around the keyframe nearest 20 s, in whole milliseconds (clip ids)."""
    key = min(keyframes(path), key=lambda k: abs(k - 2 * GOP_S))
    on = math.ceil(key * 1000) / 1000  # the first millisecond that shows the keyframe
    return [(round(on - b, 3), round(on - b + SEGMENT_S, 3)) for b in BEFORE]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("long_gop")
    return {name: make_source(root / f"{name}.{enc.ext}", enc, DURATION) for name, enc in LONG_GOP.items()}


def test_sources_have_keyframes_ten_seconds_apart(sources):
    for path in sources.values():
        assert [round(k) for k in keyframes(path)] == [0, 10, 20, 30]


def fetch(*args: str) -> list[dict]:
    result = CliRunner().invoke(main, ["fetch", *args, *FAST], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return pq.read_table(Path(args[args.index("--out") + 1]) / "manifest.parquet").to_pylist()


def ids_file(path: Path, sources: dict[str, Path]) -> Path:
    path.write_text("".join(f"{matrix_ytid(name)}_{s:.3f}_{e:.3f}\n"
                            for name, src in sources.items() for s, e in segments(src)))
    return path


@pytest.fixture(scope="module", params=["local", "mirror"])
def run(request, sources, tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp(f"long_gop_{request.param}")
    ids = ids_file(root / "ids.txt", sources)
    out = root / "out"
    served = root / "served"
    served.mkdir()
    if request.param == "local":
        for name, path in sources.items():
            os.link(path, served / f"{matrix_ytid(name)}{path.suffix}")
        return out, fetch(str(ids), "--out", str(out), "--source", "local", "--video-dir", str(served), "--workers", "2")
    for name, path in sources.items():  # no extension: yt-dlp and ffmpeg sniff the bytes
        os.link(path, served / matrix_ytid(name))
    with Mirror(served) as mirror:
        return out, fetch(str(ids), "--out", str(out), "--source", "mirror", "--url-template",
                          mirror.base_url + "/{ytid}", "--workers", "2")


def test_every_second_of_the_segment_is_the_sources(sources, run):
    out, rows = run
    by_id = {matrix_ytid(name): name for name in sources}
    assert len(rows) == len(sources) * len(BEFORE)
    for row in rows:
        name = by_id[row["ytid"]]
        assert row["status"] == "ok", (name, row["start"], row["message"])
        problems = clock_problems(sources[name], out / row["video_path"], out / row["audio_path"], row["start"],
                                  row["end"])
        assert problems == [], (name, row["start"], problems)


def test_mpeg_ts_is_read_back_to_the_keyframe_only(sources, run):
    """No index: the pass decodes from the keyframe the probe found, not from the file's start."""
    _, rows = run
    path = sources["h264_aac_ts"]
    ts_rows = {row["start"]: json.loads(row["probe"]) for row in rows if row["ytid"] == matrix_ytid("h264_aac_ts")}
    keys = keyframes(path)
    for start, probe in ts_rows.items():
        shown = max(k for k in keys if k <= start + 1e-3)  # the keyframe the segment's first frame needs
        assert probe["source"]["keyframe"] <= shown < probe["source"]["keyframe"] + 0.2  # its decode time
        assert probe["output"]["preroll"] == pytest.approx(start - probe["source"]["keyframe"], abs=1e-3)
        assert probe["output"]["preroll"] < GOP_S + 0.2


def test_flv_seeks_to_the_keyframe_itself(sources, run):
    """FLV has no index in the file, but its demuxer indexes keyframes as it reads: ffmpeg's input seek."""
    _, rows = run
    flv = [json.loads(row["probe"]) for row in rows if row["ytid"] == matrix_ytid("h264_aac_flv")]
    assert len(flv) == len(BEFORE)
    assert all("preroll" not in p["output"] and "keyframe" not in p["source"] for p in flv)


def test_the_probe_looks_back_until_it_finds_a_keyframe(sources):
    path = sources["h264_aac_ts"]
    keys = keyframes(path)
    for t, expected in ((29.9, keys[2]), (19.0, keys[1]), (12.0, keys[1]), (5.0, keys[0]), (0.5, keys[0])):
        found = probe_input(path, segment_start=t).keyframe
        assert found <= expected < found + 0.2, (t, found, expected)  # its decode time: B-frames come before it
    assert probe_input(sources["h264_aac_flv"], segment_start=12.0).keyframe is None


def spec_for(cut: Cut) -> OutputSpec:
    return OutputSpec(cut.duration, 224, cut.rate, 16000, 1, start=cut.start, source_fps=25.0)


def test_the_frame_check_catches_a_decode_that_starts_late(sources, tmp_path):
    """Read from 5 s before a segment that starts 2.6 s before a keyframe 10 s after the last one, the
    decoder's first frame is that keyframe: the pass's frame times show the hole the frame-rate step fills."""
    path = sources["h264_aac_ts"]
    start = segments(path)[1][0]
    cut = Cut(start, SEGMENT_S, Fraction(25), preroll=5.0)
    result = normalize([local_input(path)], cut, tmp_path / "v.mp4", tmp_path / "a.flac", NormalizeOptions())
    assert result.frame_times[0] == pytest.approx(2.6, abs=0.05)
    problems, checked = check_outputs(OutputFacts(), spec_for(cut), result.frame_times)
    gap = [p for p in problems if p.gap]
    assert "source_frames" in checked and len(gap) == 1
    assert re.search(rf"0\.000-2\.[56]\d\d s \(source {start:.3f}-20\.0\d\d s\)", gap[0].message), gap[0].message


def with_hole(source: Path, target: Path, hole: tuple[float, float]) -> Path:
    """``source`` with the video frames of ``hole`` (seconds) taken out, timestamps kept; the sound whole."""
    run_ffmpeg(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                "-vf", f"select='not(between(t,{hole[0]},{hole[1] - 1e-3}))'", "-fps_mode", "passthrough",
                "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "copy", str(target)], target.name)
    return target


@pytest.mark.parametrize("encoding", ["h264_aac_mp4", "h264_aac_ts"])
def test_a_hole_in_the_video_is_a_gap(encoding, spec, tmp_path):
    source = make_source(tmp_path / f"clock.{ENCODINGS[encoding].ext}", encoding, 6.0)
    holed = with_hole(source, tmp_path / f"holed.{ENCODINGS[encoding].ext}", (2.0, 3.0))
    row = spec.fetch_one(holed, 1.0, 4.0, tmp_path / "work")
    assert row["status"] == "gap" and row["video_path"] is None, (row["status"], row["message"])
    # From the last frame before the hole to the first after it, in the source's seconds.
    found = re.fullmatch(r"no source frame decoded for \S+ s \(source (\S+)-(\S+) s\) of the segment: .*", row["message"])
    assert found and 1.9 <= float(found[1]) <= 2.05 and 3.0 <= float(found[2]) <= 3.1, row["message"]
    whole = spec.fetch_one(source, 1.0, 4.0, tmp_path / "work")
    assert whole["status"] == "ok", whole["message"]
