"""End to end in a real browser: Debian's Chromium driven by Playwright, against the server on a loopback
port with a worker thread. A team registers, uploads an AVR .npz (hidden test phase) and an AVC .json
(public val phase) through the web form, watches each status turn finished, sees its row on the board; a
second team cannot see the first team's private scores; the host publishes the test phase. A model and
team named ``<script>alert(1)</script>`` show as text and no dialog ever opens. Screenshots are kept in
``tests/artifacts/`` (git-ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
EVIL = "<script>alert(1)</script>"

pytestmark = pytest.mark.timeout(300)


def _browser(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)


def test_participant_and_host_flow_in_chromium(harness, live_server, tmp_path, avr_npz, avc_json):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (make setup installs Debian's chromium): browser test skipped")
    sync_api = pytest.importorskip("playwright.sync_api")
    artifacts = Path(__file__).resolve().parents[2] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    avr = avr_npz(harness.gt("test"), tmp_path / "sims.npz", quality=0.8)
    avc = avc_json(harness.gt("val"), tmp_path / "captions.json")
    dialogs: list[str] = []
    expect = sync_api.expect

    with sync_api.sync_playwright() as p:
        browser = _browser(p)
        one = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        one.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        one.goto(f"{live_server}/register")
        one.fill("input[name=name]", EVIL)
        one.click("#register")
        token = one.locator("#token").inner_text().strip()
        assert token.startswith("vbt_")
        one.screenshot(path=str(artifacts / "browser_01_token_once.png"))

        # AVR to the hidden test phase
        one.goto(f"{live_server}/team")
        form = one.locator("#submit-test-avr")
        form.locator("input[name=file]").set_input_files(str(avr))
        form.locator("input[name=model_name]").fill(EVIL)
        form.locator("button[type=submit]").click()
        expect(one.locator("#status")).to_have_text("finished", timeout=90_000)
        assert one.locator("#model-name").inner_text() == EVIL
        assert "R@1" in one.locator("#scores").inner_text()  # the team sees its own scores
        assert one.locator("figure.chart svg").count() == 2
        avr_url = one.url
        one.screenshot(path=str(artifacts / "browser_02_avr_submission_finished.png"), full_page=True)

        # AVC to the public val phase, then its board
        one.goto(f"{live_server}/team")
        form = one.locator("#submit-val-avc")
        form.locator("input[name=file]").set_input_files(str(avc))
        form.locator("input[name=model_name]").fill("plain captioner")
        form.locator("button[type=submit]").click()
        expect(one.locator("#status")).to_have_text("finished", timeout=120_000)
        assert "CIDEr" in one.locator("#scores").inner_text()
        one.goto(f"{live_server}/leaderboard/val/avc")
        row = one.locator("#board-1 tbody tr").first
        expect(row).to_contain_text("plain captioner")
        expect(row).to_contain_text(EVIL)  # the team name, as text
        one.screenshot(path=str(artifacts / "browser_03_val_avc_board.png"), full_page=True)
        one.goto(f"{live_server}/leaderboard/test/avr")
        expect(one.locator("#error")).to_contain_text("private until the host publishes")

        # a second team sees neither the private board nor the first team's submission
        two = browser.new_context().new_page()
        two.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        two.goto(f"{live_server}/register")
        two.fill("input[name=name]", "second team")
        two.click("#register")
        two.goto(avr_url)
        expect(two.locator("#error")).to_contain_text("no submission")
        assert "R@1" not in two.content()
        two.goto(f"{live_server}/leaderboard/test/avr")
        expect(two.locator("#error")).to_contain_text("private until the host publishes")
        two.screenshot(path=str(artifacts / "browser_04_second_team_private.png"))

        # the host publishes the test phase; everyone sees the board, the model name is text
        host = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        host.goto(f"{live_server}/login")
        host.fill("input[name=token]", harness.host_token)
        host.click("#login")
        host.click("#publish-test")
        two.goto(f"{live_server}/leaderboard/test/avr")
        rows = two.locator("#board-1 tbody tr")
        expect(rows).to_have_count(2)  # the team and the paper's baseline
        model = two.locator("#board-1 td.model").filter(has_text="script")
        expect(model).to_have_text(EVIL)
        expect(two.locator("#board-1")).to_contain_text("Paper-B")
        two.screenshot(path=str(artifacts / "browser_05_test_board_published.png"), full_page=True)
        browser.close()
    assert dialogs == []
