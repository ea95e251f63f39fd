"""The default filters keep plainly moving, visible video and still reject stills and black screens.

Media made with ffmpeg (10-s clips with a tone, as AudioSet segments are): a 20-px box moving 48 px across a
96-px frame over a plain, black or navy background (clips that whole-frame thresholds drop), a
small object crossing a still sky, a mouth moving in a static shot, a lit box on a black stage; and on the
other side stills of detailed pictures (re-encoded at every keyframe, at two qualities), black, near-black,
black with a small logo and black with grain; each with a keyframe a second, a single keyframe, and at a low
quality. Every clip goes through fetch's own per-clip path: the pass samples the thumbnails and
``read_outputs`` measures them.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main

DURATION = 10


def _box(bg: str, colour: str, side: int = 96, box: int = 20, travel: int = 48, height: int | None = None) -> str:
    height = height or side
    x0 = (side - travel - box) // 2
    return (f"color=c={bg}:s={side}x{height}:r=25:d={DURATION}[bg];color=c={colour}:s={box}x{box}:r=25:d={DURATION}[box];"
            f"[bg][box]overlay=x='{x0}+{travel}*t/{DURATION}':y={(height - box) // 2}:shortest=1")


def _still(source: str) -> str:
    return (f"{source}=size=320x240:rate=25,trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/25/TB,"
            f"trim=duration={DURATION}")


MOVING = {
    "blue_box_on_grey": _box("gray", "0x4068FF"),  # low contrast: the box's luma is close to the grey's
    "red_box_on_black": _box("black", "red"),
    "dark_red_box_on_black": _box("black", "0x802020"),
    "dark_red_box_on_navy": _box("navy", "0x802020"),
    "blue_box_on_navy": _box("navy", "0x4068FF"),
    "bird_crossing_a_sky": _box("0x87CEEB", "0x202020", side=320, height=240, box=6, travel=200),
    "mouth_in_a_static_shot": (_still("testsrc2") + "[face];color=c=0x602020:s=30x12:r=25:d=10[mouth];"
                               "[face][mouth]overlay=x=145:y='150+6*sin(2*PI*3*t)':shortest=1"),
}
STILL = {
    "still_pattern": _still("testsrc2"),
    "still_fractal": _still("mandelbrot"),
    "black": f"color=c=black:s=96x96:r=25:d={DURATION}",
    "near_black": f"color=c=0x0c0c0c:s=96x96:r=25:d={DURATION}",
    "black_with_logo": (f"color=c=black:s=96x96:r=25:d={DURATION}[bg];color=c=white:s=10x10:r=25:d={DURATION}[logo];"
                        "[bg][logo]overlay=x=80:y=80:shortest=1"),
    "black_with_grain": f"color=c=black:s=96x96:r=25:d={DURATION},noise=alls=8:allf=t",
}
ENCODINGS = {"keyframe_each_second": (25, 23), "one_keyframe": (250, 23), "low_quality": (25, 35)}


def _make(path, graph: str, keyint: int, crf: int):
    args = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-filter_complex",
            f"{graph},format=yuv420p[v];sine=frequency=440:duration={DURATION}[a]", "-map", "[v]", "-map", "[a]",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", str(keyint), "-c:a", "aac",
            "-t", str(DURATION), str(path)]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("filter_media")
    jobs = {(name, enc): (graph, *ENCODINGS[enc]) for name, graph in {**MOVING, **STILL}.items() for enc in ENCODINGS}
    with ThreadPoolExecutor(4) as pool:
        paths = pool.map(lambda item: _make(root / f"{item[0][0]}-{item[0][1]}.mp4", *item[1]), jobs.items())
        return dict(zip(jobs, paths, strict=True))


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", MOVING)
def test_moving_visible_video_is_kept(media, spec, tmp_path, name, encoding):
    row = spec.fetch_one(media[name, encoding], 0, DURATION, tmp_path)
    assert row["status"] == "ok", row["message"]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", STILL)
def test_stills_and_black_screens_with_sound_are_rejected(media, spec, tmp_path, name, encoding):
    row = spec.fetch_one(media[name, encoding], 0, DURATION, tmp_path)
    # the sound is there (a sine at -21 dBFS): only the picture decides
    assert json.loads(row["probe"])["rms_db"] > -30
    black = name.startswith(("black", "near_black"))
    assert row["status"] == ("black" if black else "frozen"), row["probe"]
    assert row["message"].startswith("black video" if black else "frozen video"), row["message"]


def test_whole_frame_measures_would_drop_the_moving_clips(media, spec, tmp_path):
    """Why the filters look at blocks and dark pixels: the whole-frame mean difference is < 2 (a quarter of
    --frozen-diff 8) and the mean luma < 20 on clips that plainly move."""
    grey, black = (json.loads(spec.fetch_one(media[pick], 0, DURATION, tmp_path)["probe"])
                   for pick in (("blue_box_on_grey", "keyframe_each_second"), ("red_box_on_black", "one_keyframe")))
    assert grey["motion"] < 2.0 and black["luma"] < 20
    assert grey["block_motion"] > 8 and black["dark_share"] < 0.98


def test_fetch_keeps_and_rejects_them_end_to_end(media, tmp_path):
    """Through `valor-data fetch --source local`, with the messages a user reads in the manifest."""
    videos = tmp_path / "videos"
    videos.mkdir()
    picks = {"-boxNavy001": ("blue_box_on_navy", "ok"), "stillPic002": ("still_fractal", "frozen"),
             "blackLogo03": ("black_with_logo", "black")}
    for ytid, (name, _) in picks.items():
        (videos / f"{ytid}.mp4").symlink_to(media[name, "keyframe_each_second"])
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{y}_0.000_4.000\n" for y in picks))
    res = CliRunner().invoke(main, ["fetch", str(ids), "--out", str(tmp_path / "out"), "--source", "local",
                                    "--video-dir", str(videos), "--workers", "1", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["ytid"]: r for r in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert {y: rows[y]["status"] for y in picks} == {y: want for y, (_, want) in picks.items()}
    assert "--frozen-diff 8" in rows["stillPic002"]["message"]
    assert "--black-share 0.98" in rows["blackLogo03"]["message"]

