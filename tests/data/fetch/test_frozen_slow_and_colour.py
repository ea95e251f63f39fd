"""The frozen filter keeps slow motion and colour-only motion, and still rejects stills and black screens,
on 2-s and 10-s segments.

Media made with ffmpeg (10-s clips with a tone): a slow pan, a slow zoom and a slowly turning object over
smooth detail (a blurred fractal, as a turning globe is smooth), whose sampled frames 0.29 s apart in a 2-s
segment differ by less than ``--frozen-diff 8`` although the segment's ends differ by far more; a magenta
20-px square crossing an olive 96-px frame (about the same brightness, another colour); and a still, a logo
over a still and a black screen, with sound. Every clip goes through fetch's own per-clip path
(``download_clip`` -> ``finish_clip``: the pass samples the thumbnails, ``read_outputs`` measures them, the
filters decide); the thumbnails are recorded on their way to ``read_outputs``.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pytest

from valor_data.fetch import process
from valor_data.fetch.normalize import Cut, thumbnail_frames
from valor_data.fetch.probe import picture_change

DURATION = 10
FROZEN_DIFF = 8.0  # the default --frozen-diff
SEGMENTS = {"first_2s": (0.0, 2.0), "middle_2s": (4.0, 6.0), "whole_10s": (0.0, 10.0)}


def _still(source: str, size: str, blur: float = 0) -> str:
    """The first frame of a lavfi ``source``, blurred by ``blur`` (sigma, px), held for the clip."""
    blurred = f",gblur=sigma={blur}" if blur else ""
    return (f"{source}=size={size}:rate=25,trim=end_frame=1{blurred},loop=loop=-1:size=1:start=0,setpts=N/25/TB,"
            f"trim=duration={DURATION}")


SLOW = {
    # 3 px/s across a 320-px picture: cropped at 4x the size (0.25-px steps), then scaled down
    "slow_pan": _still("mandelbrot", "1920x960", 32) + ",crop=w=1280:h=960:x='12*t':y=0,scale=320:240",
    # 1 % a second, about the centre
    "slow_zoom": (_still("mandelbrot", "1280x960", 16) + ",scale=w='trunc(1280*(1+0.01*t)/2)*2':h=-2:eval=frame,"
                  "crop=1280:960,scale=320:240"),
    # a 120-px disc of detail turning 3 degrees a second over a plain background
    "slowly_turning_object": (f"color=c=0x305080:s=320x240:r=25:d={DURATION}[bg];" + _still("mandelbrot", "120x120", 3)
                              + ",rotate=a='2*PI*t/120':c=none:ow=120:oh=120[o];[bg][o]overlay=x=100:y=60:shortest=1"),
}
MAGENTA_ON_OLIVE = (f"color=c=olive:s=96x96:r=25:d={DURATION}[bg];color=c=magenta:s=20x20:r=25:d={DURATION}[box];"
                    f"[bg][box]overlay=x='14+48*t/{DURATION}':y=38:shortest=1")
STILL = {  # name -> (graph, status)
    "still_fractal": (_still("mandelbrot", "320x240"), "frozen"),
    "logo_over_a_still": (_still("testsrc2", "320x240") + f"[s];color=c=white:s=24x12:r=25:d={DURATION}[logo];"
                          "[s][logo]overlay=x=280:y=16:shortest=1", "frozen"),
    "black": (f"color=c=black:s=96x96:r=25:d={DURATION}", "black"),
}
ENCODINGS = {"keyframe_each_second": (25, 23), "low_quality": (25, 35)}


def _make(path, graph: str, keyint: int, crf: int):
    args = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-filter_complex",
            f"{graph},format=yuv420p[v];sine=frequency=440:duration={DURATION}[a]", "-map", "[v]", "-map", "[a]",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", str(keyint), "-c:a", "aac",
            "-t", str(DURATION), str(path)]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("frozen_media")
    graphs = {**SLOW, "magenta_on_olive": MAGENTA_ON_OLIVE, **{k: g for k, (g, _) in STILL.items()}}
    jobs = {(name, enc): (graph, *ENCODINGS[enc]) for name, graph in graphs.items() for enc in ENCODINGS}
    with ThreadPoolExecutor(2) as pool:
        paths = pool.map(lambda item: _make(root / f"{item[0][0]}-{item[0][1]}.mp4", *item[1]), jobs.items())
        return dict(zip(jobs, paths, strict=True))


@pytest.fixture
def fetch(spec, tmp_path, monkeypatch):
    """``spec.fetch_one`` that also returns the thumbnails the pass handed to ``read_outputs``."""
    seen: list[list[np.ndarray]] = []
    real = process.read_outputs

    def recording(video, audio, thumbs):
        seen.append(thumbs)
        return real(video, audio, thumbs)

    monkeypatch.setattr(process, "read_outputs", recording)

    def run(path, segment, **kw):
        row = spec.fetch_one(path, *segment, tmp_path, **kw)
        return row, json.loads(row["probe"]), np.stack(seen[-1])

    return run


def _neighbours(thumbs: np.ndarray) -> float:
    """The change the filter would see comparing each sampled frame with the next one only."""
    return max(max(picture_change(thumbs[i:i + 2])[1:]) for i in range(len(thumbs) - 1))


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("segment", SEGMENTS)
@pytest.mark.parametrize("name", SLOW)
def test_slow_motion_is_kept(media, fetch, name, segment, encoding):
    row, probe, thumbs = fetch(media[name, encoding], SEGMENTS[segment])
    assert row["status"] == "ok", row["message"]
    assert len(thumbs) == probe["frames_sampled"] == 8
    if segment != "whole_10s" and encoding == "keyframe_each_second":
        # slow: neighbours alone would call it frozen, the segment's ends do not (at crf 35 the coding noise
        # between neighbours of a zoom reaches the threshold by itself)
        assert _neighbours(thumbs) < FROZEN_DIFF <= probe["block_motion"], probe


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("segment", SEGMENTS)
def test_an_object_of_another_colour_and_the_same_brightness_is_motion(media, fetch, segment, encoding):
    path = media["magenta_on_olive", encoding]
    row, probe, _ = fetch(path, SEGMENTS[segment])
    assert row["status"] == "ok", row["message"]
    # a threshold the brightness change alone does not reach: colour keeps the clip
    row, probe, _ = fetch(path, SEGMENTS[segment], thresholds={"frozen_diff": 12.0})
    assert probe["block_motion"] < 12.0 < probe["colour_motion"] and row["status"] == "ok", probe


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("segment", SEGMENTS)
@pytest.mark.parametrize("name", STILL)
def test_stills_and_black_screens_with_sound_are_rejected(media, fetch, name, segment, encoding):
    row, probe, _ = fetch(media[name, encoding], SEGMENTS[segment])
    assert probe["rms_db"] > -30  # the sound is there: only the picture decides
    assert row["status"] == STILL[name][1], probe
    if row["status"] == "frozen":
        assert "grey levels or" in row["message"] and "colour levels" in row["message"], row["message"]


def test_thumbnails_span_the_clip_from_its_first_frame_to_its_last():
    assert thumbnail_frames(Cut(0.0, 2.0, Fraction(25))) == [0, 7, 14, 21, 28, 35, 42, 49]
    assert thumbnail_frames(Cut(3.0, 10.0, Fraction(25)))[::7] == [0, 249]
    assert thumbnail_frames(Cut(0.0, 0.1, Fraction(30000, 1001))) == [0, 1, 2]  # 3 frames: each once
