"""The normaliser: one ffmpeg run, H.264 video without audio + FLAC audio, sizes, rates and the cut."""

from __future__ import annotations

import av
import numpy as np
import pytest

from valor_data.fetch.failures import ClipFailure
from valor_data.fetch.normalize import NormalizeOptions, build_command, normalize
from valor_data.synthetic.media import make_clip


def streams(path):
    with av.open(str(path)) as c:
        v = [(s.codec_context.name, s.codec_context.width, s.codec_context.height, float(s.average_rate),
              s.codec_context.pix_fmt) for s in c.streams.video]
        a = [(s.codec_context.name, s.codec_context.sample_rate, s.codec_context.channels, s.codec_context.format.name)
             for s in c.streams.audio]
        return v, a, c.duration / 1e6


def test_command_never_exposes_a_bare_name(tmp_path):
    cmd = build_command(tmp_path / "-abc.mp4", tmp_path / "-v.part", tmp_path / "-a.part", NormalizeOptions(),
                        duration=10.0, start=30.0, source_fps=60.0)
    assert cmd[0] == "ffmpeg"
    assert f"file:{tmp_path}/-abc.mp4" in cmd and f"file:{tmp_path}/-v.part" in cmd
    assert not any(arg.startswith("-abc") or arg.startswith("-v.") for arg in cmd)
    joined = " ".join(cmd)
    assert "-ss 30.000 -t 10.000 -i" in joined  # the local cut, on the input
    assert "fps=fps=30" in joined and "-an" in cmd and "-vn" in cmd
    assert "-movflags +faststart" in joined and "-pix_fmt yuv420p" in joined


@pytest.mark.parametrize(("size", "expected"), [((160, 120), (298, 224)), ((120, 160), (224, 298)),
                                               ((250, 140), (400, 224))])
def test_short_side_and_even_sizes(tmp_path, size, expected):
    src = make_clip(tmp_path / "src.mp4", "ok", duration=1.5, size=size)
    normalize(src, tmp_path / "v.mp4", tmp_path / "a.flac", NormalizeOptions(), duration=1.0, source_fps=25.0)
    v, a, duration = streams(tmp_path / "v.mp4")
    assert v == [("h264", *expected, 25.0, "yuv420p")]
    assert a == []  # the video file carries no audio
    v, a, _ = streams(tmp_path / "a.flac")
    assert v == [] and a == [("flac", 16000, 1, "s16")]
    assert duration == pytest.approx(1.0, abs=0.05)


def test_frame_rate_capped_or_fixed_and_audio_configurable(tmp_path):
    src = make_clip(tmp_path / "src50.mp4", "ok", duration=1.5, fps=50)
    normalize(src, tmp_path / "v.mp4", tmp_path / "a.flac", NormalizeOptions(), duration=1.0, source_fps=50.0)
    assert streams(tmp_path / "v.mp4")[0][0][3] == 30.0
    opts = NormalizeOptions(fps=10, short_side=64, sample_rate=22050, channels=2)
    normalize(src, tmp_path / "v2.mp4", tmp_path / "a2.flac", opts, duration=1.0, source_fps=50.0)
    assert streams(tmp_path / "v2.mp4")[0][0][1:4] == (86, 64, 10.0)
    assert streams(tmp_path / "a2.flac")[1] == [("flac", 22050, 2, "s16")]


def _thumbs(path, start=0.0, end=None):
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            if f.time < start - 1e-6 or (end is not None and f.time > end):
                continue
            out.append((f.time, f.reformat(width=64, height=48, format="gray").to_ndarray().astype(np.float32)))
        return out


def test_local_cut_is_frame_accurate(tmp_path):
    src = make_clip(tmp_path / "src.mp4", "ok", duration=6.0, size=(160, 120), keyint=50)
    normalize(src, tmp_path / "v.mp4", tmp_path / "a.flac", NormalizeOptions(short_side=120), duration=2.0,
              start=2.36, source_fps=25.0)
    first = _thumbs(tmp_path / "v.mp4")[0][1]
    candidates = _thumbs(src, 2.0, 3.0)
    best = min(candidates, key=lambda tf: np.abs(tf[1] - first).mean())
    assert best[0] == pytest.approx(2.36, abs=0.021)  # the frame at the start, not the keyframe before it
    assert streams(tmp_path / "v.mp4")[2] == pytest.approx(2.0, abs=0.05)
    assert streams(tmp_path / "a.flac")[2] == pytest.approx(2.0, abs=0.01)


def test_failures_keep_ffmpeg_words(tmp_path):
    no_audio = make_clip(tmp_path / "na.mp4", "no_audio", duration=1.0)
    with pytest.raises(ClipFailure) as info:
        normalize(no_audio, tmp_path / "v.mp4", tmp_path / "a.flac", NormalizeOptions(), duration=1.0)
    assert info.value.reason == "ffmpeg_error" and "matches no streams" in info.value.message
    corrupt = make_clip(tmp_path / "c.mp4", "corrupt")
    with pytest.raises(ClipFailure) as info:
        normalize(corrupt, tmp_path / "v.mp4", tmp_path / "a.flac", NormalizeOptions(), duration=1.0)
    assert info.value.reason == "decode_error" and "Invalid data found" in info.value.message


def test_options_are_validated():
    with pytest.raises(ValueError, match="even"):
        NormalizeOptions(short_side=225)
    with pytest.raises(ValueError, match="fps"):
        NormalizeOptions(fps=0)
