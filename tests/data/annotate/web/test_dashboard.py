"""The dashboard page and its JSON: SVG charts drawn on the server with every label escaped, Fleiss' kappa
and the reviewer who accepts everything flagged for the host, named people hidden from everyone else."""

from __future__ import annotations

import re

from valor_data.annotate.agreement import MIN_VERDICTS_TO_FLAG
from valor_data.annotate.states import Role

NO_SOUND = "A man stands in a small room and looks at the camera for a while."


def _campaign_with_a_rubber_stamp(web) -> tuple:
    """Second-stage captions, every third one without a sound; two careful reviewers and a stamp."""
    web.clips(MIN_VERDICTS_TO_FLAG + 2)
    authors = [web.join() for _ in range(2)]
    careful = [web.join(Role.REVIEWER) for _ in range(2)]
    stamp = web.join(Role.REVIEWER)
    for i in range(MIN_VERDICTS_TO_FLAG + 2):
        bad = i % 3 == 0
        web.write(authors[i % 2].token, NO_SOUND if bad else web.h.GOOD)
        for r in careful:
            web.verdict(r.token, "reject" if bad else "accept", "no-sound" if bad else None)
        web.verdict(stamp.token, "accept")
    return authors, careful, stamp


def test_host_sees_kappa_charts_and_the_flagged_reviewer(web):
    _authors, careful, stamp = _campaign_with_a_rubber_stamp(web)
    host = web.host()
    d = web.api("GET", "/api/v1/dashboard", host.token).json()
    flagged = {r["reviewer"] for r in d["reviewers"] if r["accepts_everything"]}
    assert flagged == {stamp.pseudonym}
    # panels: 4 rejected 2-1, 8 accepted 3-0; each rejected clip came back to its author first and was
    # rewritten well, so 4 clips were never taken
    assert d["kappa_panels"] == MIN_VERDICTS_TO_FLAG + 2 and 0 < d["kappa"] < 1
    assert d["reasons"]["second"] == [["no-sound", 8]]
    assert d["progress"]["second"] == {"accepted": 8, "open": 4} and d["rounds"] == [[1, 4], [2, 4]]
    browser = web.browser(Role.HOST)
    page = browser.get("/dashboard")
    assert page.status_code == 200
    svgs = re.findall(r"<svg.*?</svg>", page.text, re.S)
    assert len(svgs) >= 6 and all("<script" not in s for s in svgs)
    assert 'class="flag"' in page.text and "accepts everything" in page.text
    assert "Caption length" in page.text and "VALOR-32K" in page.text


def test_others_see_the_campaign_but_no_named_people(web):
    authors, careful, _stamp = _campaign_with_a_rubber_stamp(web)
    d = web.api("GET", "/api/v1/dashboard", careful[0].token).json()
    assert d["reviewers"] == [] and d["authors"] == [] and d["kappa"] is not None
    page = web.browser(Role.ANNOTATOR).get("/dashboard")
    assert page.status_code == 200 and 'id="reviewers"' not in page.text
    assert web.api("GET", "/api/v1/dashboard").status_code == 401


def test_chart_labels_are_escaped(web):
    """Rejection reasons are the host's own words (campaign.yaml): a chart shows them as text."""
    web.configure(rejection_reasons=("no-sound", "<img src=x onerror=alert(1)>"))
    web.clips(1)
    author, reviewers = web.join(), [web.join(Role.REVIEWER) for _ in range(3)]
    web.write(author.token)
    for r in reviewers:
        web.verdict(r.token, "reject", "<img src=x onerror=alert(1)>")
    page = web.browser(Role.HOST).get("/dashboard")
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
