"""The normalising pass: one ffmpeg run, H.264 video without audio + FLAC audio + thumbnails, sizes, rates and
the cut."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from valor_data.fetch.failures import ClipFailure
from valor_data.fetch.normalize import (
    Cut,
    NormalizeOptions,
    PassInput,
    build_command,
    display_size,
    frames_file,
    local_input,
    normalize,
    output_size,
    read_y4m,
)
from valor_data.fetch.probe import THUMB_WIDTH
from valor_data.synthetic.media import make_clip


def streams(path):
    with av.open(str(path)) as c:
        v = [(s.codec_context.name, s.codec_context.width, s.codec_context.height, float(s.average_rate),
              s.codec_context.pix_fmt) for s in c.streams.video]
        a = [(s.codec_context.name, s.codec_context.sample_rate, s.codec_context.channels, s.codec_context.format.name)
             for s in c.streams.audio]
        return v, a, c.duration / 1e6


def test_command_never_exposes_a_bare_name(tmp_path):
    cmd = build_command([local_input(tmp_path / "-abc.mp4")], Cut(30.0, 10.0, Fraction(30), preroll=0.5),
                        tmp_path / "-v.part", tmp_path / "-a.part", NormalizeOptions())
    assert cmd[0] == "ffmpeg"
    assert f"file:{tmp_path}/-abc.mp4" in cmd and f"file:{tmp_path}/-v.part" in cmd
    assert not any(arg.startswith("-abc") or arg.startswith("-v.") for arg in cmd)
    joined = " ".join(cmd)
    assert "-ss 29.500000 -t 10.500000 -i" in joined  # the cut, on the input, from the preroll
    assert "trim=start=0.500000" in joined and "atrim=start=0.500000" in joined
    assert "fps=fps=30:start_time=0" in joined  # a constant rate, a late video start held from 0
    assert "-movflags +faststart" in joined and "-pix_fmt yuv420p" in joined
    assert "-threads 1" in joined  # x264 single-threaded: byte-identical reruns
    assert "aresample=async=1:first_pts=0" in joined  # a late audio start is padded, in sync
    assert joined.startswith("ffmpeg -nostdin -hide_banner -nostats -loglevel level+warning -y ")
    assert joined.endswith("-map [t] -f yuv4mpegpipe -fps_mode passthrough pipe:1")  # thumbnails to stdout


def test_remote_inputs_carry_headers_cookies_proxy_and_timeout(tmp_path):
    video = PassInput("https://cdn.example/v?id=1", headers=(("User-Agent", "UA/1"), ("Referer", "https://x/")),
                      cookies="SID=abc; path=/; domain=.example;\r\n", proxy="http://proxy:3128")
    audio = PassInput("https://cdn.example/a?id=1")
    cmd = build_command([video, audio], Cut(12.0, 10.0, Fraction(25), 0, 1), tmp_path / "v.mp4",
                        tmp_path / "a.flac", NormalizeOptions(), socket_timeout=7.5)
    first = cmd.index("https://cdn.example/v?id=1")
    second = cmd.index("https://cdn.example/a?id=1")
    head = cmd[:first]
    assert head[head.index("-headers") + 1] == "User-Agent: UA/1\r\nReferer: https://x/\r\n"
    assert head[head.index("-cookies") + 1] == "SID=abc; path=/; domain=.example;\r\n"
    assert head[head.index("-http_proxy") + 1] == "http://proxy:3128"
    assert head[head.index("-rw_timeout") + 1] == "7500000"
    assert cmd[first + 1:second].count("-ss") == 1 and "-headers" not in cmd[first + 1:second]
    graph = cmd[cmd.index("-filter_complex") + 1]
    assert graph.startswith("[0:v:0]") and "[1:a:0]" in graph  # split DASH: video of one, audio of the other


def test_no_seek_from_the_very_start(tmp_path):
    cmd = build_command([local_input(tmp_path / "s.mkv")], Cut(0.0, 5.0, Fraction(25)), tmp_path / "v.mp4",
                        tmp_path / "a.flac", NormalizeOptions())
    assert "-ss" not in cmd[:cmd.index("-i")]  # a seek to 0 can land on the first video keyframe


@pytest.mark.parametrize(("size", "expected"), [((160, 120), (298, 224)), ((120, 160), (224, 298)),
                                               ((250, 140), (400, 224))])
def test_short_side_and_even_sizes(tmp_path, size, expected):
    src = make_clip(tmp_path / "src.mp4", "ok", duration=1.5, size=size)
    result = normalize([local_input(src)], Cut(0.0, 1.0, Fraction(25)), tmp_path / "v.mp4", tmp_path / "a.flac",
                       NormalizeOptions())
    v, a, duration = streams(tmp_path / "v.mp4")
    assert v == [("h264", *expected, 25.0, "yuv420p")]
    assert a == []  # the video file carries no audio
    v, a, _ = streams(tmp_path / "a.flac")
    assert v == [] and a == [("flac", 16000, 1, "s16")]
    assert duration == pytest.approx(1.0, abs=0.05)
    assert output_size(size, 224) == expected
    # thumbnails spread over the clip, as wide as the probe's
    assert 6 <= len(result.thumbs) <= 9 and all(t.shape[1] == THUMB_WIDTH for t in result.thumbs)


def test_output_rate():
    assert NormalizeOptions().output_rate(Fraction(50)) == 30
    assert NormalizeOptions().output_rate(25.0) == 25
    assert NormalizeOptions().output_rate(29.97002997) == Fraction(30000, 1001)
    assert NormalizeOptions().output_rate(None) == 30  # unknown: the cap
    assert NormalizeOptions(fps=10).output_rate(Fraction(25)) == 10
    assert NormalizeOptions(max_fps=12.5).output_rate(Fraction(25)) == Fraction(25, 2)


def test_display_size_applies_pixel_aspect_then_rotation():
    assert display_size(240, 180, Fraction(4, 3), 0) == (320, 180)
    assert display_size(160, 120, None, 90) == (120, 160)
    assert output_size(display_size(240, 180, Fraction(4, 3), 0), 224) == (398, 224)


def test_frame_rate_capped_or_fixed_and_audio_configurable(tmp_path):
    src = make_clip(tmp_path / "src50.mp4", "ok", duration=1.5, fps=50)
    normalize([local_input(src)], Cut(0.0, 1.0, NormalizeOptions().output_rate(50)), tmp_path / "v.mp4",
              tmp_path / "a.flac", NormalizeOptions())
    assert streams(tmp_path / "v.mp4")[0][0][3] == 30.0
    opts = NormalizeOptions(fps=10, short_side=64, sample_rate=22050, channels=2)
    normalize([local_input(src)], Cut(0.0, 1.0, opts.output_rate(50)), tmp_path / "v2.mp4", tmp_path / "a2.flac",
              opts)
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


def test_cut_is_frame_accurate(tmp_path):
    src = make_clip(tmp_path / "src.mp4", "ok", duration=6.0, size=(160, 120), keyint=50)
    normalize([local_input(src)], Cut(2.36, 2.0, Fraction(25), preroll=0.5), tmp_path / "v.mp4",
              tmp_path / "a.flac", NormalizeOptions(short_side=120))
    first = _thumbs(tmp_path / "v.mp4")[0][1]
    candidates = _thumbs(src, 2.0, 3.0)
    best = min(candidates, key=lambda tf: np.abs(tf[1] - first).mean())
    assert best[0] == pytest.approx(2.36, abs=0.021)  # the frame at the start, not the keyframe before it
    assert streams(tmp_path / "v.mp4")[2] == pytest.approx(2.0, abs=0.05)
    assert streams(tmp_path / "a.flac")[2] == pytest.approx(2.0, abs=0.01)


def test_failures_keep_ffmpeg_words(tmp_path):
    no_audio = make_clip(tmp_path / "na.mp4", "no_audio", duration=1.0)
    with pytest.raises(ClipFailure) as info:
        normalize([local_input(no_audio)], Cut(0.0, 1.0, Fraction(25)), tmp_path / "v.mp4", tmp_path / "a.flac",
                  NormalizeOptions())
    assert info.value.reason == "ffmpeg_error" and "matches no streams" in info.value.message
    corrupt = make_clip(tmp_path / "c.mp4", "corrupt")
    with pytest.raises(ClipFailure) as info:
        normalize([local_input(corrupt)], Cut(0.0, 1.0, Fraction(25)), tmp_path / "v.mp4", tmp_path / "a.flac",
                  NormalizeOptions())
    assert info.value.reason == "decode_error" and "Invalid data found" in info.value.message


def test_read_y4m():
    planes = np.arange(36, dtype=np.uint8).reshape(3, 3, 4)  # Y, Cb, Cr of a 4 x 3 picture
    data = b"YUV4MPEG2 W4 H3 F25:1 Ip A0:0 C444\n" + (b"FRAME\n" + planes.tobytes()) * 2 + b"FRAME\n" + b"\0" * 5
    frames = read_y4m(data)
    assert len(frames) == 2 and frames[1].shape == (3, 4, 3)  # a frame cut short is not a frame
    assert (frames[1][..., 0] == planes[0]).all() and (frames[1][..., 2] == planes[2]).all()
    assert read_y4m(b"") == []
    with pytest.raises(ValueError, match="Cmono, not C444"):
        read_y4m(b"YUV4MPEG2 W4 H3 F25:1 Ip A0:0 Cmono\n" + b"FRAME\n" + planes[0].tobytes())


def test_options_are_validated():
    with pytest.raises(ValueError, match="even"):
        NormalizeOptions(short_side=225)
    with pytest.raises(ValueError, match="fps"):
        NormalizeOptions(fps=0)
    with pytest.raises(ValueError, match="max-fps"):
        NormalizeOptions(max_fps=0)


def test_the_pass_reports_the_decoded_frames_times_whatever_the_folder_name(tmp_path):
    """The times file's path sits inside the filter graph: quotes, colons, commas, brackets and semicolons
    in the output folder are escaped."""
    src = make_clip(tmp_path / "src.mp4", "ok", duration=4.0, size=(160, 120))
    out = tmp_path / "it's [a]:b,c;d\\e"
    out.mkdir()
    result = normalize([local_input(src)], Cut(1.0, 2.0, Fraction(25)), out / "v.mp4", out / "a.flac",
                       NormalizeOptions(short_side=120))
    assert result.frame_times == pytest.approx([i / 25 for i in range(50)], abs=1e-3)
    assert frames_file(out / "v.mp4").is_file() and len(result.thumbs) == 8
