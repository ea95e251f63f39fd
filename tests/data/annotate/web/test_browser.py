"""End to end in a real browser: Debian's Chromium driven by Playwright against the campaign app on a loopback
port. An annotator joins by invite link, qualifies on a gold clip, writes a caption while the clip plays
with its sound (``currentTime`` advances, audio bytes are decoded) and sees the live hints; the host
rejects a first-stage caption with a reason, the annotator re-annotates next to the feedback; in the
second stage three reviewers in three browser contexts reject twice → the author re-annotates → accepted;
the export holds the final caption and its provenance. A caption ``<img src=x onerror=alert(1)>`` shows as
text and no dialog ever opens. Screenshots go to ``tests/artifacts/`` (git-ignored)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from valor_data.annotate.people import create_invites
from valor_data.annotate.states import Role

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required"]
EVIL = "<img src=x onerror=alert(1)>"
FIRST = "A man plays an acoustic guitar on a small stage in a bar while people talk"
SECOND = "A man plays an acoustic guitar on a small stage and sings while people clap and cheer"
STAGE2_A = "On a sunny street a woman walks her dog past parked cars and the dog barks twice"
STAGE2_B = "On a sunny street a woman walks a small dog past parked cars while the dog barks and a car horn honks"

pytestmark = [pytest.mark.timeout(300), pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def _join(browser, live, role: Role):
    """A browser context of its own that joined through an invite link; returns (page, pseudonym)."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("dialog", lambda d: (live.dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live.url}/join/{create_invites(live.c, role, 1)[0]}")
    page.click("#join")
    pseudonym = page.locator("h1").inner_text().removeprefix("Welcome, ")
    return page, pseudonym


def _play_with_sound(page) -> dict:
    """Play the clip; wait until time advances and audio bytes were decoded."""
    # functions, not expression strings: the page's CSP forbids eval, and Playwright evaluates a string with it
    page.wait_for_function("() => document.getElementById('player').readyState >= 2", timeout=20_000)
    page.evaluate("() => document.getElementById('player').play()")
    page.wait_for_function("() => { const v = document.getElementById('player');"
                           " return v.currentTime > 0.5 && v.webkitAudioDecodedByteCount > 0; }", timeout=20_000)
    return page.evaluate("() => { const v = document.getElementById('player'); return {t: v.currentTime,"
                         " audio: v.webkitAudioDecodedByteCount, video: v.webkitVideoDecodedByteCount,"
                         " w: v.videoWidth}; }")


def _write(page, live, text: str, expect_hints: bool = False):
    page.goto(f"{live.url}/write")
    played = _play_with_sound(page)
    assert played["t"] > 0.5 and played["audio"] > 0 and played["video"] > 0 and played["w"] == 160
    page.fill("#caption", "")
    page.type("#caption", text, delay=2)
    if expect_hints:
        page.wait_for_function("() => document.getElementById('hint-count').textContent !== '0'", timeout=10_000)
    return played


def _review(page, live, verdict: str, reason: str | None = None, comment: str = ""):
    page.goto(f"{live.url}/review")
    page.check(f"#{verdict}")
    if reason:
        page.select_option("#reason", reason)
    if comment:
        page.fill("#comment", comment)
    page.click("#send-verdict")
    assert page.locator("#saved").is_visible()


def test_three_steps_in_chromium(live, h):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: browser test skipped")
    sync_api = pytest.importorskip("playwright.sync_api")
    artifacts = Path(__file__).resolve().parents[3] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    h.configure(live.c, qualification_min_accepted=1)
    [gold] = live.clips(1, stage="first", gold=True)
    [first] = live.clips(1, stage="first", start=1)
    [second] = live.clips(1, stage="second", start=2)
    live.dialogs = []
    expect = sync_api.expect

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        host, _ = _join(browser, live, Role.HOST)
        ann, ann_name = _join(browser, live, Role.ANNOTATOR)

        # training: a gold clip, written while it plays, with live hints; the host accepts → qualified
        ann.click("#start")
        expect(ann.locator("#qualification")).to_contain_text("not qualified yet")
        ann.click("#start-training")
        assert ann.locator("#clip-id").inner_text() == gold
        _write(ann, live, STAGE2_B, expect_hints=True)
        marks = ann.locator("#hint-text mark").all_inner_texts()
        assert "dog" in marks and "car horn" in marks
        expect(ann.locator("#hint-no-sound")).to_be_hidden()
        ann.screenshot(path=str(artifacts / "annotate_01_write_with_hints.png"), full_page=True)
        ann.keyboard.press("Control+Enter")  # the keyboard shortcut saves
        expect(ann.locator("#saved")).to_contain_text(gold)
        _review(host, live, "accept")
        ann.goto(f"{live.url}/training")
        expect(ann.locator("#qualification")).to_contain_text("You are qualified")

        # first stage: a no-sound caption carrying markup; the host rejects it with a reason
        _write(ann, live, f"{EVIL} {FIRST}")
        ann.fill("#caption", "a man")
        ann.click("#save")
        expect(ann.locator("#error")).to_contain_text("at least 8")  # refused; the text is kept
        assert ann.locator("#caption").input_value() == "a man"
        ann.fill("#caption", f"{EVIL} {FIRST}")
        ann.click("#save")
        assert ann.locator("#clip-id").inner_text() == second  # saved: the next clip is ready
        ann.click("#release")  # given back, to see the feedback first
        host.goto(f"{live.url}/review")
        assert host.locator("#caption-text").inner_text() == f"{EVIL} {FIRST}"  # text, not an element
        assert host.locator("#caption-text img").count() == 0
        _review(host, live, "reject", "no-sound", "say what the guitar and the crowd sound like")
        ann.goto(f"{live.url}/write")
        assert ann.locator("#clip-id").inner_text() == first
        expect(ann.locator("#feedback")).to_contain_text("no-sound")
        expect(ann.locator("#feedback")).to_contain_text("say what the guitar and the crowd sound like")
        _write(ann, live, SECOND)
        ann.click("#save")
        _review(host, live, "accept")

        # second stage: three reviewers, blind; two rejects → the author re-annotates → three accepts
        reviewers = [_join(browser, live, Role.REVIEWER)[0] for _ in range(3)]
        _write(ann, live, STAGE2_A)
        ann.click("#save")
        _review(reviewers[0], live, "reject", "missing-main-subject", "who walks the dog?")
        _review(reviewers[1], live, "reject", "not-fluent")
        _review(reviewers[2], live, "accept")
        ann.goto(f"{live.url}/write")
        assert ann.locator("#clip-id").inner_text() == second
        expect(ann.locator("#feedback")).to_contain_text("missing-main-subject")
        expect(ann.locator("#feedback")).not_to_contain_text("rev-")  # blind: no reviewer named
        _write(ann, live, STAGE2_B, expect_hints=True)
        ann.screenshot(path=str(artifacts / "annotate_04_rework_with_feedback.png"), full_page=True)
        ann.click("#save")
        for r in reviewers:
            _review(r, live, "accept")

        host.goto(f"{live.url}/problems")
        expect(host.locator("#problems-all")).to_contain_text("no-sound")
        host.screenshot(path=str(artifacts / "annotate_02_problems.png"), full_page=True)
        host.goto(f"{live.url}/host")
        expect(host.locator("#people-table")).to_contain_text(ann_name)
        host.screenshot(path=str(artifacts / "annotate_03_host.png"), full_page=True)
        exported = host.request.get(f"{live.url}/host/export.zip")
        assert exported.status == 200
        body = exported.body()
        browser.close()

    assert live.dialogs == []
    z = zipfile.ZipFile(io.BytesIO(body))
    desc = [row for name in z.namelist() if name.startswith("desc_") for row in json.loads(z.read(name))]
    assert {r["video_id"]: r["desc"] for r in desc} == {first: SECOND, second: STAGE2_B}
    prov = pq.read_table(io.BytesIO(z.read("provenance.parquet"))).to_pylist()
    final = {r["clip_id"]: r for r in prov}
    assert final[second]["caption"] == STAGE2_B and final[second]["round"] == 2
    assert final[second]["author"] == ann_name
    assert sorted(v["verdict"] for v in final[second]["verdicts"]) == ["accept"] * 3
