"""The checks of the pass's files against the segment: each difference named, short streams and stretches
without a decoded frame told apart."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from valor_data.fetch.probe import OutputFacts, OutputSpec, check_outputs, frame_gaps

SPEC = OutputSpec(duration=10.0, short_side=224, rate=Fraction(25), sample_rate=16000, channels=1, size=(298, 224))
GOOD = OutputFacts(streams=1, vcodec="h264", pix_fmt="yuv420p", width=298, height=224, sar="1:1", rotation=0,
                   fps=25.0, frames=250, video_start=0.0, duration=10.0, acodec="flac", sample_fmt="s16",
                   sample_rate=16000, channels=1, samples=160000, audio_start=0.0, audio_duration=10.0)


def test_good_outputs_pass_every_check():
    problems, checked = check_outputs(GOOD, SPEC)
    assert problems == []
    assert checked == ["video_stream", "size", "aspect", "square_pixels", "no_rotation", "fps", "video_start",
                       "video_duration", "audio_format", "audio_duration"]


def test_one_frame_and_20_ms_of_slack():
    assert check_outputs(replace(GOOD, duration=10.04, audio_duration=9.981), SPEC)[0] == []
    problems, _ = check_outputs(replace(GOOD, duration=9.92, audio_duration=9.97), SPEC)
    assert [(p.message, p.short) for p in problems] == [
        ("the video lasts 9.920 s of the 10.000 s segment", True),
        ("the audio lasts 9.970 s of the 10.000 s segment", True)]
    problems, _ = check_outputs(replace(GOOD, audio_duration=10.5), SPEC)
    assert [p.short for p in problems] == [False]  # too long is not truncation


@pytest.mark.parametrize(("change", "words"), [
    ({"rotation": 90}, "display rotation of 90 degrees"),
    ({"sar": "4:3"}, "pixels are 4:3"),
    ({"width": 224, "height": 298}, "the source as a player shows it makes 298x224"),
    ({"width": 299}, "not even with short side 224"),
    ({"pix_fmt": "yuvj420p"}, "not one H.264 yuv420p stream"),
    ({"streams": 2}, "holds 2 stream(s)"),
    ({"fps": 30.0}, "not a constant 25"),
    ({"extra": {"frame_durations": [512, 1024]}}, "frame durations [512, 1024]"),
    ({"video_start": 0.5}, "starts at 0.5 s"),
    ({"sample_rate": 44100}, "44100 Hz x 1, not 16-bit FLAC 16000 Hz x 1"),
])
def test_each_difference_is_named(change, words):
    problems, _ = check_outputs(replace(GOOD, **change), SPEC)
    assert len(problems) == 1 and words in problems[0].message and not problems[0].short, problems


def test_unknown_source_shape_skips_only_the_aspect_check():
    _, checked = check_outputs(GOOD, replace(SPEC, size=None))
    assert "aspect" not in checked and "size" in checked


# ----------------------------------------------------------------------------------------------------
# The decoded frames' times against the segment
# ----------------------------------------------------------------------------------------------------
def every_frame(first: float, last: float, step: float = 0.04) -> list[float]:
    return [round(first + i * step, 6) for i in range(round((last - first) / step) + 1)]


def gaps(times: list[float], spec: OutputSpec = SPEC) -> list[tuple[float, float]]:
    return frame_gaps(times, spec)


def test_every_frame_of_the_segment_decoded_is_no_gap():
    assert gaps(every_frame(0.0, 9.96)) == []
    assert gaps(every_frame(0.04, 9.96)) == []  # the first frame one frame late: a rate's rounding
    assert gaps(every_frame(0.0, 9.96)[::4]) == []  # four frames apart: a slower source's frames


def test_a_late_first_frame_and_a_hole_are_gaps():
    late = every_frame(2.6, 9.96)
    assert gaps(late) == [(0.0, 2.6)]
    hole = every_frame(0.0, 1.96) + every_frame(3.0, 9.96)
    assert gaps(hole) == [(1.96, 3.0)]
    assert gaps(every_frame(0.0, 9.96)[::5]) != []  # five frames apart at 25 frames/s


def test_the_gap_limit_follows_the_slower_rate_and_a_late_picture():
    low = every_frame(0.0, 9.5, 0.5)  # a 2-frames/s source: its own frames, held by the frame-rate step
    assert gaps(low, replace(SPEC, source_fps=2.0)) == []
    assert gaps(low) != []  # at the output's 25 frames/s the same times are holes
    assert gaps(every_frame(1.5, 9.96), replace(SPEC, video_from=1.5)) == []  # the source's picture starts late
    assert gaps(every_frame(0.0, 9.96) + [10.5, 12.0]) == []  # frames past the segment do not count


def test_the_frame_check_names_the_seconds_in_the_segment_and_the_source():
    problems, checked = check_outputs(GOOD, replace(SPEC, start=30.0), every_frame(0.0, 1.96) + every_frame(3.0, 9.96))
    assert checked[-1] == "source_frames"
    assert [(p.message, p.gap, p.short) for p in problems] == [
        ("no source frame decoded for 1.960-3.000 s (source 31.960-33.000 s) of the segment: the picture there "
         "would be a held frame", True, False)]
