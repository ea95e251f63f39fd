"""A small set fetched and sharded for real (`valor-data fetch --source local` of an AudioSet segment list,
then `shard --captions`, which writes the card): synthetic media under real VALOR-32K test clip ids with
their AudioSet labels, and clips that fail for three reasons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.synthetic.media import make_clip

# Real VALOR-32K test clip ids (annotations/valor32k/test_ids.txt) with their AudioSet labels, so the card
# finds their official split; then clips that fail.
CLIPS = {
    "CEfOX4fYlsY_20.000_30.000": ("ok", "/m/05_wcq"),
    "26OpBUZbdPw_18.000_28.000": ("ok", "/m/04rlf,/t/dd00003,/t/dd00004"),
    "dKJk3JavNzo_30.000_40.000": ("ok", "/m/0145m,/m/0164x2,/m/04rlf"),
    "-synthetic1_0.500_3.500": ("no_audio", "/m/04rlf"),
    "silentclip2_0.500_3.500": ("silent", "/m/04rlf"),
}
MISSING = "gone0000003_0.000_3.000"  # no source video: unavailable


def invoke(*args: str):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout) if "--json" in args else res


@pytest.fixture(scope="session")
def card_clips() -> dict[str, str]:
    """The clip ids fetched (and the kind of their synthetic source), for test modules (importlib mode
    cannot import conftest)."""
    return {clip_id: kind for clip_id, (kind, _) in CLIPS.items()}


@pytest.fixture(scope="session")
def cli():
    """`valor-data ARGS...`, asserting exit 0 (parsed JSON with --json)."""
    return invoke


@pytest.fixture(scope="session")
def card_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("card")
    src = root / "videos"
    src.mkdir()
    rows = ["# YTID, start_seconds, end_seconds, positive_labels"]
    for i, (clip_id, (kind, labels)) in enumerate({**CLIPS, MISSING: ("", "/m/04rlf")}.items()):
        ytid, start, end = clip_id.rsplit("_", 2)
        rows.append(f'{ytid}, {start}, {end}, "{labels}"')
        if kind:
            make_clip(src / f"{ytid}.mp4", kind, duration=float(end) + 1, seed=i)
    (root / "segments.csv").write_text("\n".join(rows) + "\n")
    captions = root / "desc.json"
    captions.write_text(json.dumps([{"video_id": c, "desc": [f"a caption of {c}", "a second caption"]} for c in CLIPS]))
    invoke("fetch", str(root / "segments.csv"), "--out", str(root / "fetch"), "--source", "local", "--video-dir",
           str(src), "--workers", "1", "--no-progress", "--json")  # fmt: skip
    summary = invoke("shard", str(root / "fetch"), "--out", str(root / "shards"), "--shard-size", "2",
                     "--captions", str(captions), "--json")  # fmt: skip
    assert summary["card_skipped"] is None and summary["samples"] == 3
    return root / "shards"


@pytest.fixture
def card_dir(card_template, tmp_path) -> Path:
    """A private copy of the carded shard directory, free to edit (the fetch directory stays shared)."""
    return Path(shutil.copytree(card_template, tmp_path / "shards"))
