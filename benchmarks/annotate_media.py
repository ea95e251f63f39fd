"""Clip media of `valor-data annotate serve`: time to first frame in Chromium and bytes served per second.

A shard-like tar holds N clips as fetch writes them (10 s, H.264 at 224 px short side, crf 23 veryfast, 25
fps; 16 kHz mono FLAC) and the campaign's clips point at the members' byte offsets. Measured:

* remux alone, in this process: ms per clip to stream-copy a clip's two members into one MP4 (ffmpeg's
  ``subfile`` protocol, nothing unpacked), p50 / p95, and the clip bytes read per second;
* Chromium (Playwright, Debian's /usr/bin/chromium) against the server in its own process on loopback: an
  annotator opens the writing page of each clip; time to first frame = navigation start -> the player's
  ``loadeddata`` (the first frame is decoded and shown), cold (the server remuxes the clip on the first
  request) and warm (the page reloaded: the clip is in the server's LRU); the goal is <= 1 s;
* bytes served per second: ``--threads`` clients fetching a held clip's MP4 (whole, and in 256 KiB Range
  requests, as a player seeks) for ``--seconds`` each.

    .venv/bin/python benchmarks/annotate_media.py [--clips 12] [--threads 4] [--seconds 5] [--keep DIR]

The machine's load average is printed at the start and the end: the figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from valor_data.annotate.campaign import write_example  # noqa: E402
from valor_data.annotate.people import create_invites, join  # noqa: E402
from valor_data.annotate.schema import clips  # noqa: E402
from valor_data.annotate.state import Campaign  # noqa: E402
from valor_data.annotate.states import ClipState, Role  # noqa: E402
from valor_data.annotate.web.media import parse_media, remux  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
# Set before any page script: the first `loadeddata` of any media element, on the page's clock.
TTFF_SCRIPT = "document.addEventListener('loadeddata', () => { window.__ttff ??= performance.now(); }, true);"
CAPTION = "A coloured test pattern moves across the screen while a steady tone and soft noise are heard"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_clip(d: Path, key: str, i: int, seconds: float) -> None:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=398x224:rate=25:duration={seconds}", "-c:v", "libx264",
           "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart",
           str(d / f"{key}.mp4"))
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency={220 + 30 * i}:sample_rate=16000:duration={seconds}",
           "-f", "lavfi", "-i", f"anoisesrc=a=0.05:r=16000:d={seconds}", "-filter_complex", "amix=inputs=2",
           "-ac", "1", "-ar", "16000", "-c:a", "flac", str(d / f"{key}.flac"))
    (d / f"{key}.json").write_text(json.dumps({"key": key}))


def make_shard(root: Path, n: int, seconds: float) -> list[tuple[str, dict]]:
    """A tar with n clips in shard layout; returns (clip id, clips.media) per clip."""
    members = root / "members"
    members.mkdir(parents=True)
    keys = [f"bench{i:06d}_0_{int(seconds * 1000)}" for i in range(n)]
    for i, key in enumerate(keys):
        make_clip(members, key, i, seconds)
    tar = root / "shard-000000.tar"
    with tarfile.open(tar, "w") as t:
        for key in keys:
            for ext in ("flac", "json", "mp4"):
                t.add(members / f"{key}.{ext}", f"{key}.{ext}")
    with tarfile.open(tar) as t:
        at = {m.name: [m.offset_data, m.size] for m in t}
    return [(f"bench{i:06d}_0.000_{seconds:.3f}",
             {"kind": "tar", "path": str(tar), "video": at[f"{k}.mp4"], "audio": at[f"{k}.flac"]})
            for i, k in enumerate(keys)]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": round(pct(values, 50), 1), "p95": round(pct(values, 95), 1),
            "max": round(max(values), 1)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_ttff(url: str, invite: str, n: int) -> tuple[list[float], list[float]]:
    """Cold and warm time to first frame (ms) of n clips, one writing page after the other."""
    from playwright.sync_api import sync_playwright  # optional extra: dev (Playwright)

    cold, warm = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.add_init_script(TTFF_SCRIPT)
        page.goto(f"{url}/join/{invite}")
        page.click("#join")
        page.goto(f"{url}/write")
        for _ in range(n):
            page.wait_for_function("() => window.__ttff !== undefined", timeout=30_000)
            cold.append(page.evaluate("() => window.__ttff"))
            page.reload()
            page.wait_for_function("() => window.__ttff !== undefined", timeout=30_000)
            warm.append(page.evaluate("() => window.__ttff"))
            page.fill("#caption", CAPTION)
            page.click("#save")  # saved: the next clip's writing page loads
        browser.close()
    return cold, warm


def serve_rate(url: str, token: str, lease: str, threads: int, seconds: float, chunk: int | None) -> dict:
    """Bytes per second served to ``threads`` clients fetching one clip (whole, or in ``chunk``-byte ranges)."""
    total, requests = [0], [0]
    lock = threading.Lock()
    size = len(httpx.get(f"{url}/media/{lease}", headers={"Authorization": f"Bearer {token}"}).content)

    def client() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as c:
            end, at = time.monotonic() + seconds, 0
            while time.monotonic() < end:
                headers = {}
                if chunk:
                    headers["Range"] = f"bytes={at}-{min(at + chunk, size) - 1}"
                    at = 0 if at + chunk >= size else at + chunk
                r = c.get(f"{url}/media/{lease}", headers=headers)
                assert r.status_code == (206 if chunk else 200), r.status_code
                with lock:
                    total[0] += len(r.content)
                    requests[0] += 1

    began = time.monotonic()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    took = time.monotonic() - began
    return {"clip_bytes": size, "MB_per_s": round(total[0] / took / 1e6, 1),
            "requests_per_s": round(requests[0] / took, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--clip-seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary directory)")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    root = args.keep or Path(tempfile.mkdtemp(prefix="annotate-media-"))
    made = make_shard(root / "shard", args.clips, args.clip_seconds)
    tar_bytes = (root / "shard" / "shard-000000.tar").stat().st_size

    remux_ms, clip_bytes = [], 0
    for _, media in made:
        m = parse_media(media)
        began = time.perf_counter()
        remux(m)
        remux_ms.append(1000 * (time.perf_counter() - began))
        clip_bytes += m.video.size + m.audio.size

    campaign_dir = root / "campaign"
    write_example(campaign_dir)
    # no training (whoever joins writes campaign clips at once) and no rate limit (it would cap the byte rates)
    config = campaign_dir / "campaign.yaml"
    config.write_text(config.read_text().replace("qualification_min_accepted: 3", "qualification_min_accepted: 0")
                      .replace("rate_limit_per_minute: 120", "rate_limit_per_minute: 100000000"))
    c = Campaign.open(campaign_dir)
    with c.db.write() as conn:
        conn.execute(insert(clips), [{"clip_id": cid, "key": cid.replace(".", ""), "stage": "first", "gold": False,
                                      "split": "train", "labels": json.dumps(["Sine wave", "Pink noise"]),
                                      "media": json.dumps(media), "state": ClipState.OPEN.value, "round": 1,
                                      "updated_at": time.time()} for cid, media in made])
    _, reader_token = join(c, create_invites(c, Role.ANNOTATOR, 1)[0])
    browser_invite = create_invites(c, Role.ANNOTATOR, 1)[0]
    c.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "valor_data.cli", "annotate", "serve", str(campaign_dir),
                               "--port", str(port), "--log-level", "warning"], env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        # the reader holds the first clip for the byte rates; the browser writes the others in order
        lease = httpx.post(f"{url}/api/v1/next/write", headers={"Authorization": f"Bearer {reader_token}"}).json()["lease"]
        cold, warm = browser_ttff(url, browser_invite, args.clips - 1)
        whole = serve_rate(url, reader_token, lease, args.threads, args.seconds, None)
        ranged = serve_rate(url, reader_token, lease, args.threads, args.seconds, 256 * 1024)
    finally:
        server.terminate()
        server.wait(30)
    result = {
        "clips": args.clips, "clip_seconds": args.clip_seconds, "tar_bytes": tar_bytes,
        "remux_ms": summary(remux_ms),
        "remux_input_MB_per_s": round(clip_bytes / (sum(remux_ms) / 1000) / 1e6, 1),
        "ttff_ms_cold": summary(cold), "ttff_ms_warm": summary(warm),
        "served_whole": whole, "served_range_256KiB": ranged, "threads": args.threads,
    }
    print(json.dumps(result, indent=1))
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
