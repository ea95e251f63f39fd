"""Source media in the encodings a crawl of YouTube (or a local copy of one) meets, each carrying its own clock.

Every second ``k`` of a source, in *player time* (0 = the first instant a player shows), has its own
picture colour and its own tone, so a test reads back which seconds of the source an output holds and
where each second starts in it:

* video: the whole picture is :func:`clock_colour` ``(k)``, except a white square in the top-left corner
  *as a player shows the picture* (after display rotation and pixel aspect), so orientation can be read;
* audio: a tone of ``F0_HZ + DF_HZ * k`` Hz during the first 0.8 s of each second, then 0.2 s of
  silence, so the onset of each tone marks the start of a second to a few milliseconds.

:data:`ENCODINGS` lists the variants (codecs, containers, rates, sizes, pixel aspect, rotation, late
timestamps, audio that starts late or ends early, split DASH, HLS); :func:`make_source` writes one with
Debian's ffmpeg 5.1 encoders (libx264, libx265, libvpx, libaom, SVT-AV1, libopus, libvorbis, LAME...).
:func:`read_video_clock` and :func:`read_audio_clock` read the clock back from any file PyAV opens.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from valor_data.synthetic.media import run_ffmpeg

F0_HZ, DF_HZ = 300.0, 50.0  # second k sounds at F0 + k * DF (below 4 kHz: fits an 8 kHz source)
TONE_ON_S = 0.8  # each second: tone, then silence until the next second
AMPLITUDE = 0.25
_LEVELS = (32, 96, 160, 224)
MARKER = (255, 255, 255)
MAX_SECONDS = 64  # distinct colours and tones


def clock_colour(k: int) -> tuple[int, int, int]:
    """The RGB colour of second ``k``: 64 colours of a 4-level cube, consecutive seconds far apart."""
    p = (k % MAX_SECONDS) * 23 % MAX_SECONDS  # 23 is prime to 64: a permutation that scatters neighbours
    return _LEVELS[p // 16], _LEVELS[p // 4 % 4], _LEVELS[p % 4]


_PALETTE = np.array([clock_colour(k) for k in range(MAX_SECONDS)], dtype=np.float64)


def colour_second(rgb: np.ndarray) -> int:
    """The second whose colour is nearest to the mean colour ``rgb`` (3 values)."""
    return int(np.argmin(((_PALETTE - np.asarray(rgb, dtype=np.float64)) ** 2).sum(axis=1)))


@dataclass(frozen=True)
class Encoding:
    """One source variant: codecs and container, and how its picture, sound and timestamps are laid out."""

    name: str
    description: str
    ext: str  # the file's extension (container)
    video: tuple[str, ...] | None = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "23")
    audio: tuple[str, ...] | None = ("-c:a", "aac", "-b:a", "96k")
    size: tuple[int, int] = (160, 120)  # the picture as a player shows it: width, height
    fps: float = 25.0
    keyint_s: float = 2.0
    pix_fmt: str = "yuv420p"
    sample_rate: int = 44100
    layout: str = "stereo"
    rotate: int = 0  # the `rotate` tag: the player turns the stored picture this many degrees counter-clockwise
    sar: tuple[int, int] = (1, 1)  # pixel aspect: stored width = displayed width * sar[1] / sar[0]
    vfr: bool = False  # frame rate alternates between fps and fps/2 within each second
    ts_offset: float = 0.0  # the container's timestamps start this late (player time 0 is still the start)
    audio_delay: float = 0.0  # the audio starts this many seconds after the video (player time)
    audio_short: float = 0.0  # the audio ends this many seconds before the video
    out_args: tuple[str, ...] = ()
    layout_kind: str = "file"  # "file", "dash" (video + audio files and an MPD), "hls" (playlist + segments)
    slow: bool = False  # costly to encode: only in the full (slow) test matrix

    @property
    def stored_size(self) -> tuple[int, int]:
        """Width and height of the coded picture (before pixel aspect and rotation are applied)."""
        w, h = self.size
        if self.rotate % 180:
            w, h = h, w
        return max(1, round(w * self.sar[1] / self.sar[0])), h


_AAC = ("-c:a", "aac", "-b:a", "96k")
_OPUS = ("-c:a", "libopus", "-b:a", "64k")
_VP9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "300k")
_FASTSTART = ("-movflags", "+faststart")
_FRAGMENTED = ("-movflags", "frag_keyframe+empty_moov+default_base_moof+global_sidx")  # one track per file

ENCODINGS: dict[str, Encoding] = {e.name: e for e in (
    Encoding("h264_aac_mp4", "H.264 + AAC in mp4 (moov first), YouTube's format 18", "mp4", out_args=_FASTSTART),
    Encoding("h264_aac_mp4_moov_end", "H.264 + AAC in mp4 with the index (moov) at the end", "mp4"),
    Encoding("vp9_opus_webm", "VP9 + Opus in webm, YouTube's common DASH pair", "webm", video=_VP9, audio=_OPUS,
             sample_rate=48000),
    Encoding("vp9_10bit_webm", "VP9 profile 2, 10-bit (yt-dlp's vp9.2) + Opus", "webm",
             video=(*_VP9, "-profile:v", "2"), pix_fmt="yuv420p10le", audio=_OPUS, sample_rate=48000),
    Encoding("av1_svt_opus_webm", "AV1 (SVT-AV1) + Opus in webm: yt-dlp's preferred codec", "webm",
             video=("-c:v", "libsvtav1", "-preset", "12", "-crf", "40"), audio=_OPUS, sample_rate=48000,
             size=(192, 128)),
    Encoding("av1_aom_mp4", "AV1 (libaom) + AAC in mp4, like YouTube's av01 formats", "mp4",
             video=("-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-crf", "40"),
             out_args=_FASTSTART, slow=True),
    Encoding("hevc_aac_mp4", "HEVC (libx265) + AAC in mp4", "mp4",
             video=("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1"),
             out_args=_FASTSTART),
    Encoding("h264_60fps_mp4", "60 frames/s (more than --max-fps)", "mp4", fps=60.0, out_args=_FASTSTART),
    Encoding("h264_ntsc_mp4", "29.97 frames/s (30000/1001)", "mp4", fps=30000 / 1001, out_args=_FASTSTART,
             slow=True),
    Encoding("h264_vfr_mp4", "variable frame rate: 30 and 15 frames/s within each second", "mp4", fps=30.0,
             vfr=True, out_args=_FASTSTART),
    Encoding("h264_odd_yuv444_mkv", "odd size 175x131, 4:4:4 chroma, in mkv", "mkv", size=(175, 131),
             pix_fmt="yuv444p"),
    Encoding("h264_sar_mp4", "non-square pixels: 240x180 stored, 4:3 pixels, 320x180 shown", "mp4",
             size=(320, 180), sar=(4, 3), out_args=_FASTSTART),
    Encoding("h264_rot90_mp4", "phone video: stored landscape, rotate=90, full-range yuvj420p, 48 kHz", "mp4",
             size=(120, 160), rotate=90, pix_fmt="yuvj420p", sample_rate=48000, out_args=_FASTSTART),
    Encoding("h264_rot270_mov", "phone video in mov turned the other way (rotate=270)", "mov",
             size=(120, 160), rotate=270, sample_rate=48000, slow=True),
    Encoding("aac_51_mp4", "5.1 AAC at 48 kHz (downmixed to mono)", "mp4", layout="5.1", sample_rate=48000,
             out_args=_FASTSTART),
    Encoding("mpeg4_mp3_avi", "MPEG-4 part 2 + MP3 at 22.05 kHz mono in avi (old uploads)", "avi",
             video=("-c:v", "mpeg4", "-q:v", "5"), audio=("-c:a", "libmp3lame", "-b:a", "48k"),
             sample_rate=22050, layout="mono"),
    Encoding("vp8_vorbis_webm", "VP8 + Vorbis in webm (older YouTube webm)", "webm",
             video=("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"),
             audio=("-c:a", "libvorbis", "-q:a", "3"), slow=True),
    Encoding("h264_pcm96k_mov", "24-bit PCM at 96 kHz in mov", "mov", audio=("-c:a", "pcm_s24le"), sample_rate=96000),
    Encoding("h264_aac_8k_mkv", "AAC at 8 kHz mono in mkv", "mkv", sample_rate=8000, layout="mono", slow=True),
    Encoding("h264_aac_ts", "MPEG-TS: timestamps start 1.4 s late (the muxer's default)", "ts"),
    Encoding("h264_aac_flv", "FLV whose timestamps start 2.5 s late", "flv", ts_offset=2.5),
    Encoding("vp9_opus_mkv_late", "mkv whose timestamps start 3.2 s late", "mkv", video=_VP9, audio=_OPUS,
             sample_rate=48000, ts_offset=3.2),
    Encoding("h264_audio_late_mp4", "the audio starts 0.6 s after the video (an edit list)", "mp4",
             audio_delay=0.6, out_args=_FASTSTART),
    Encoding("h264_audio_late_mkv", "mkv whose audio starts 0.6 s after its video", "mkv", audio_delay=0.6,
             slow=True),
    Encoding("h264_audio_short_mkv", "the audio ends 1.5 s before the video", "mkv", audio_short=1.5),
    Encoding("dash_h264_aac", "split DASH like YouTube's: a video-only and an audio-only fragmented mp4 (each "
             "with its sidx) listed in an MPD", "mpd", layout_kind="dash"),
    Encoding("hls_h264_aac", "HLS only: a playlist of 1-s MPEG-TS segments", "m3u8", layout_kind="hls"),
)}
FAST_MATRIX = tuple(name for name, e in ENCODINGS.items() if not e.slow)


def _frame(enc: Encoding, t: float) -> bytes:
    """One stored picture at player time ``t``: the display picture, squeezed by the pixel aspect and
    turned against the display rotation."""
    w, h = enc.size
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = clock_colour(int(math.floor(t + 1e-9)))
    m = max(4, round(min(w, h) * 0.3))
    img[:m, :m] = MARKER
    sw = enc.stored_size[0] if not enc.rotate % 180 else enc.stored_size[1]
    if sw != w:  # nearest-neighbour squeeze along x: the player stretches it back with the pixel aspect
        img = img[:, np.minimum((np.arange(sw) * w / sw).astype(int), w - 1)]
    if enc.rotate:
        img = np.rot90(img, k=-(enc.rotate // 90))  # clockwise: the player turns it back counter-clockwise
    return np.ascontiguousarray(img).tobytes()


def _audio_filter(enc: Encoding, duration: float) -> str:
    start = enc.audio_delay
    length = max(0.1, duration - start - enc.audio_short)
    channels = {"mono": 1, "stereo": 2, "5.1": 6}[enc.layout]
    # T is player time: the audio stream's own time t plus its delay.
    tone = (f"{AMPLITUDE}*sin(2*PI*({F0_HZ}+{DF_HZ}*floor(t+{start}))*(t+{start}))"
            f"*lt(t+{start}-floor(t+{start}),{TONE_ON_S})")
    exprs = "|".join([tone] * min(channels, 3) + ["0"] * (channels - min(channels, 3)))
    return f"aevalsrc=exprs='{exprs}':s={enc.sample_rate}:c={enc.layout}:d={length:.6f}"


def _encode(enc: Encoding, path: Path, duration: float, *, video: bool = True, audio: bool = True,
            extra_out: tuple[str, ...] = ()) -> None:
    """One ffmpeg run: the clock picture piped in as raw RGB frames, the clock tone from ``aevalsrc``."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    frames = b""
    if video and enc.video:
        sw, sh = enc.stored_size
        n = int(math.floor(duration * enc.fps + 1e-6))
        frames = b"".join(_frame(enc, i / enc.fps) for i in range(n))  # every slot of the nominal rate
        rate = Fraction(enc.fps).limit_denominator(1001)
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{sw}x{sh}", "-framerate", str(rate), "-i", "pipe:0"]
    if audio and enc.audio:
        if enc.audio_delay:
            cmd += ["-itsoffset", f"{enc.audio_delay:.6f}"]
        cmd += ["-f", "lavfi", "-i", _audio_filter(enc, duration)]
    n_inputs = int(bool(video and enc.video)) + int(bool(audio and enc.audio))
    if video and enc.video:
        vf = []
        if enc.vfr:  # drop every other frame in the middle of each second
            vf.append("select='not(gte(mod(t,1),0.3)*lt(mod(t,1),0.7)*mod(n,2))'")
        if enc.sar != (1, 1):
            vf.append(f"setsar={enc.sar[0]}/{enc.sar[1]}")
        if vf:
            cmd += ["-vf", ",".join(vf)]
        cmd += ["-map", "0:v", *enc.video, "-pix_fmt", enc.pix_fmt, "-g", str(max(1, round(enc.keyint_s * enc.fps)))]
        if enc.vfr:
            cmd += ["-fps_mode", "vfr"]
        if not (audio and enc.audio):
            cmd += ["-an"]
    if audio and enc.audio:
        cmd += ["-map", f"{n_inputs - 1}:a", *enc.audio]
        if not (video and enc.video):
            cmd += ["-vn"]
    if enc.ts_offset:
        cmd += ["-output_ts_offset", f"{enc.ts_offset:.6f}"]
    rotate = bool(video and enc.video and enc.rotate)
    target = path.with_name(f"{path.stem}.unrotated{path.suffix}") if rotate else path
    cmd += ["-map_metadata", "-1", *enc.out_args, *extra_out, str(target)]
    run_ffmpeg(cmd, f"{enc.name} ({path.name})", frames or None)
    if rotate:  # ffmpeg 5.1 turns the `rotate` tag into a display matrix only when stream-copying
        run_ffmpeg(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(target), "-map", "0",
                    "-c", "copy", "-metadata:s:v:0", f"rotate={enc.rotate}", *enc.out_args, str(path)],
                   f"{enc.name} (rotation)")
        target.unlink()


_MPD = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static"
     mediaPresentationDuration="PT{duration:.3f}S" minBufferTime="PT2S">
  <Period>
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <Representation id="v" codecs="avc1.4d400d" bandwidth="300000" width="{w}" height="{h}" frameRate="{fps:g}">
        <BaseURL>{video}</BaseURL>
      </Representation>
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="en">
      <Representation id="a" codecs="mp4a.40.2" bandwidth="96000" audioSamplingRate="{rate}">
        <BaseURL>{audio}</BaseURL>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def make_source(path: str | os.PathLike, encoding: str | Encoding, duration: float = 6.0) -> Path:
    """Write a source of ``duration`` seconds in ``encoding`` (a name of :data:`ENCODINGS` or an
    :class:`Encoding`) to ``path``; returns ``path``. Split DASH writes ``path`` (the MPD) plus
    ``{stem}_v.mp4`` and ``{stem}_a.m4a`` beside it; HLS writes the playlist plus ``{stem}_NNN.ts``."""
    enc = ENCODINGS[encoding] if isinstance(encoding, str) else encoding
    if duration > MAX_SECONDS:
        raise ValueError(f"duration {duration:g} s: the clock has {MAX_SECONDS} distinct seconds")
    path = Path(path).resolve()  # absolute: a name starting with '-' is never read as an option
    path.parent.mkdir(parents=True, exist_ok=True)
    if enc.layout_kind == "dash":
        video, audio = path.with_name(f"{path.stem}_v.mp4"), path.with_name(f"{path.stem}_a.m4a")
        _encode(enc, video, duration, audio=False, extra_out=_FRAGMENTED)
        _encode(enc, audio, duration, video=False, extra_out=_FRAGMENTED)
        w, h = enc.stored_size
        path.write_text(_MPD.format(duration=duration, w=w, h=h, fps=enc.fps, rate=enc.sample_rate,
                                    video=video.name, audio=audio.name))
    elif enc.layout_kind == "hls":
        _encode(enc, path, duration, extra_out=("-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
                                                "-hls_segment_filename", str(path.with_name(f"{path.stem}_%03d.ts"))))
    else:
        _encode(enc, path, duration)
    return path


def source_files(path: str | os.PathLike, encoding: str | Encoding) -> list[Path]:
    """Every file :func:`make_source` wrote for ``path`` (what a mirror must serve)."""
    enc = ENCODINGS[encoding] if isinstance(encoding, str) else encoding
    path = Path(path)
    if enc.layout_kind == "dash":
        return [path, path.with_name(f"{path.stem}_v.mp4"), path.with_name(f"{path.stem}_a.m4a")]
    if enc.layout_kind == "hls":
        return [path, *sorted(path.parent.glob(f"{path.stem}_[0-9][0-9][0-9].ts"))]
    return [path]


# ----------------------------------------------------------------------------------------------------
# Reading the clock back
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoClock:
    """What a file's pictures say: for each frame its player time, the second its colour names, and the
    corner holding the marker (None when no corner is white: the picture is cut or distorted)."""

    times: tuple[float, ...]
    seconds: tuple[int, ...]
    corners: tuple[str | None, ...]
    width: int
    height: int


def _corner(img: np.ndarray) -> str | None:
    h, w = img.shape[:2]
    ph, pw = max(1, h // 10), max(1, w // 10)
    patches = {"top-left": img[1:1 + ph, 1:1 + pw], "top-right": img[1:1 + ph, w - 1 - pw:w - 1],
               "bottom-left": img[h - 1 - ph:h - 1, 1:1 + pw], "bottom-right": img[h - 1 - ph:h - 1, w - 1 - pw:w - 1]}
    white = [name for name, p in patches.items() if np.abs(p.reshape(-1, 3).mean(0) - MARKER).max() < 24]
    return white[0] if len(white) == 1 else None


def read_video_clock(path: str | os.PathLike, every: int = 1) -> VideoClock:
    """Decode every ``every``-th frame of ``path``'s first video stream (as stored: no rotation applied)."""
    import av  # optional extra: data (the encoders need only ffmpeg)

    times, seconds, corners = [], [], []
    with av.open(os.fspath(path)) as c:
        start = c.start_time / 1e6 if c.start_time is not None else 0.0
        stream = c.streams.video[0]
        w = h = 0
        for i, frame in enumerate(c.decode(stream)):
            if i % every:
                continue
            img = frame.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            centre = img[int(h * 0.4):max(int(h * 0.4) + 1, int(h * 0.8)), int(w * 0.4):max(int(w * 0.4) + 1, int(w * 0.8))]
            times.append(float(frame.time) - start)
            seconds.append(colour_second(centre.reshape(-1, 3).mean(0)))
            corners.append(_corner(img))
    return VideoClock(tuple(times), tuple(seconds), tuple(corners), w, h)


@dataclass(frozen=True)
class AudioClock:
    """What a file's sound says: the onsets of the tones (player time) with the second each tone names,
    and the second of a tone already sounding at the very start (None when it starts in a pause)."""

    onsets: tuple[tuple[float, int], ...]
    leading: int | None
    duration: float
    sample_rate: int


def _decode_mono(path: str | os.PathLike) -> tuple[np.ndarray, int, float]:
    import av  # optional extra: data (the encoders need only ffmpeg)

    with av.open(os.fspath(path)) as c:
        start = c.start_time / 1e6 if c.start_time is not None else 0.0
        stream = c.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks, first = [], None
        for frame in c.decode(stream):
            if first is None and frame.time is not None:
                first = float(frame.time)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    x = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return x.astype(np.float64), rate, (first or 0.0) - start


def _tone_second(x: np.ndarray, rate: int) -> int:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=max(len(x), rate)))  # >= 1 Hz bins
    freq = np.argmax(spectrum[1:]) + 1
    hz = freq * rate / max(len(x), rate)
    return int(round((hz - F0_HZ) / DF_HZ))


def read_audio_clock(path: str | os.PathLike) -> AudioClock:
    """Tone onsets of ``path``'s first audio stream, mixed to mono, in player time."""
    x, rate, offset = _decode_mono(path)
    if not len(x):
        return AudioClock((), None, 0.0, rate)
    if offset > 0:  # the audio starts late: a player plays silence until then
        x = np.concatenate([np.zeros(int(round(offset * rate))), x])
        offset = 0.0
    win = max(1, int(rate * 0.004))
    env = np.convolve(np.abs(x), np.ones(win) / win, mode="same")
    loud = env > 0.3 * max(env.max(), 1e-9)
    gap = int(rate * 0.1)
    onsets: list[tuple[float, int]] = []
    n = len(x)
    tone_len = int(rate * 0.4)
    # Rising edges preceded by at least 0.1 s of quiet: the starts of the tones.
    for j in np.flatnonzero(loud[1:] & ~loud[:-1]) + 1:
        if j >= gap and not loud[j - gap:j].any():
            seg = x[j + int(rate * 0.05): j + tone_len]
            if len(seg) > rate * 0.1:
                onsets.append((round(offset + int(j) / rate, 4), _tone_second(seg, rate)))
    leading = None
    if loud[: max(1, int(rate * 0.01))].any():
        end = np.flatnonzero(~loud)
        stop = int(end[0]) if len(end) else n
        if stop > rate * 0.06:
            leading = _tone_second(x[:stop], rate)
    return AudioClock(tuple(onsets), leading, round(offset + n / rate, 4), rate)


def matrix_ytid(name: str) -> str:
    """An 11-character YouTube-like id for encoding ``name``, stable across versions of the matrix."""
    return "m" + hashlib.sha1(name.encode()).hexdigest()[:10]


def reference_files(path: str | os.PathLike, encoding: str | Encoding) -> tuple[Path, Path]:
    """The files to read a source's clock from, picture and sound (split DASH: its two media files)."""
    enc = ENCODINGS[encoding] if isinstance(encoding, str) else encoding
    path = Path(path)
    if enc.layout_kind == "dash":
        return path.with_name(f"{path.stem}_v.mp4"), path.with_name(f"{path.stem}_a.m4a")
    return path, path


def clock_problems(source: str | os.PathLike, video: str | os.PathLike, audio: str | os.PathLike,
                   start: float, end: float, shown: tuple[int, int] | None = None,
                   audio_source: str | os.PathLike | None = None) -> list[str]:
    """How a normalised clip (``video`` + ``audio``) differs from seconds ``start``-``end`` of ``source``
    as a player shows them; empty when it holds exactly those seconds. The source is read back as the
    reference, so codec delays (AAC priming in MPEG-TS, say) count as the player's truth.

    Checked: every output frame shows the second the source shows at that time (one frame of slack at
    each change), the marker sits top-left in every frame (rotation applied), the picture is ``shown``
    (width, height) when given, and every tone onset of the source (``audio_source`` when the sound is a
    file of its own) inside the segment is in the output at the same time (20 ms) with the same pitch,
    with no other onset."""
    problems: list[str] = []
    src_v, out_v = read_video_clock(source), read_video_clock(video)
    if shown is not None and (out_v.width, out_v.height) != shown:
        problems.append(f"picture is {out_v.width}x{out_v.height}, expected {shown[0]}x{shown[1]}")
    step = (out_v.times[1] - out_v.times[0]) if len(out_v.times) > 1 else 0.04
    wrong = []
    for t, k in zip(out_v.times, out_v.seconds, strict=True):
        near = [s for ts, s in zip(src_v.times, src_v.seconds, strict=True) if abs(ts - (start + t)) <= step + 1e-3]
        shown_k = [s for ts, s in zip(src_v.times, src_v.seconds, strict=True) if ts <= start + t + 1e-3]
        expected = shown_k[-1] if shown_k else (src_v.seconds[0] if src_v.seconds else None)
        if k != expected and k not in near:
            wrong.append(f"{t:.3f} s shows second {k}, the source shows {expected}")
    if wrong:
        problems.append(f"{len(wrong)} of {len(out_v.times)} frames from the wrong second: " + "; ".join(wrong[:3]))
    if out_v.times and abs(out_v.times[0]) > 1e-3:
        problems.append(f"the first frame is at {out_v.times[0]:.3f} s, not 0")
    turned = sorted({c or "none" for c in out_v.corners} - {"top-left"})
    if turned:
        problems.append(f"the marker is not top-left in every frame ({', '.join(turned)}): rotation or cut wrong")
    src_a, out_a = read_audio_clock(audio_source or source), read_audio_clock(audio)
    # An onset is read after 0.1 s of quiet, and its pitch from the 0.4 s after it.
    expected_on = [(t - start, k) for t, k in src_a.onsets if start + 0.12 <= t <= end - 0.45]
    got_on = [(t, k) for t, k in out_a.onsets if 0.12 <= t <= end - start - 0.45]
    if len(expected_on) != len(got_on) or any(
            ke != kg or abs(te - tg) > 0.02 for (te, ke), (tg, kg) in zip(expected_on, got_on, strict=False)):
        problems.append("audio onsets " + ", ".join(f"{t:.3f}s:{k}" for t, k in got_on) + " differ from the source's "
                        + ", ".join(f"{t:.3f}s:{k}" for t, k in expected_on) + " (20 ms)")
    return problems
