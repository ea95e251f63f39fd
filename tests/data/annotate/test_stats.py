"""Dashboard figures: Fleiss' kappa against worked examples, agreement with the others' majority and the
flag for reviewers who accept everything, histograms, and every figure of ``dashboard`` on hand-made records."""

from __future__ import annotations

import pytest

from valor_data.annotate.agreement import Verdict, fleiss_kappa, panel_table, reviewer_agreement
from valor_data.annotate.assign import next_review, next_write
from valor_data.annotate.invariants import check
from valor_data.annotate.simulate import Ack
from valor_data.annotate.states import Role
from valor_data.annotate.stats import (
    PAPER_VALOR32K,
    CaptionRecord,
    Records,
    VerdictRecord,
    bins,
    collect,
    dashboard,
    text_figures,
    valor32k_figures,
)
from valor_data.annotate.work import save_caption, save_verdict

# The worked example of the Wikipedia article "Fleiss' kappa": 10 subjects, 14 raters, 5 categories;
# P-bar = 0.378, Pe-bar = 0.213, kappa = 0.210.
WIKIPEDIA_TABLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_worked_example():
    assert fleiss_kappa(WIKIPEDIA_TABLE) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_three_reviewers_by_hand():
    # per-caption agreement 1, 1, 1/3, 1/3 -> P = 2/3; accepts are half of all verdicts -> Pe = 1/2
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 2]]) == pytest.approx(1 / 3)
    assert fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)


def test_fleiss_kappa_undefined_and_refused():
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([[3, 0], [3, 0]]) is None  # everyone accepts everything: chance agreement is 1
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[3, 0], [1, 1]])


def test_panel_table_keeps_complete_panels_only():
    vs = [Verdict(1, "a", "accept"), Verdict(1, "b", "reject"), Verdict(1, "c", "accept"),
          Verdict(2, "a", "accept"), Verdict(2, "b", "accept")]
    assert panel_table(vs, 3) == [[2, 1]]


def _panels(stamp_verdicts: int) -> list[Verdict]:
    """``stamp`` accepts every caption; ``a`` and ``b`` reject every third one together."""
    out = []
    for cap in range(stamp_verdicts):
        bad = cap % 3 == 0
        out += [Verdict(cap, "stamp", "accept"), Verdict(cap, "a", "reject" if bad else "accept"),
                Verdict(cap, "b", "reject" if bad else "accept")]
    return out


def test_reviewer_who_accepts_everything_is_flagged():
    by = {r.reviewer: r for r in reviewer_agreement(_panels(12))}
    stamp, a = by["stamp"], by["a"]
    assert stamp.accept_share == 1.0 and stamp.accepted_others_rejected == 4 and stamp.accepts_everything
    assert stamp.agreement == pytest.approx(8 / 12)
    # a and b agree with each other; against the others' majority their panels with stamp split 1-1 on the
    # bad captions (skipped), so they are compared on the 8 good ones only
    assert a.compared == 8 and a.agreement == 1.0 and not a.accepts_everything


def test_too_few_verdicts_are_not_flagged():
    assert not any(r.accepts_everything for r in reviewer_agreement(_panels(6)))


def test_bins_edges_and_open_last_bin():
    out = bins([0, 4.9, 5, 12, 99], (0, 5, 10))
    assert [b.count for b in out] == [2, 1, 2]
    assert [b.label for b in out] == ["0–5", "5–10", "≥ 10"]
    assert sum(b.share for b in out) == pytest.approx(100.0)


def test_text_figures_count_words_and_audio_concepts():
    fig = text_figures(["a man speaks while a dog barks loudly in the yard", "a red box on a wooden table"])
    assert fig.captions == 2 and fig.avg_len == pytest.approx(9.0)
    assert fig.acd == pytest.approx(100 / 18)  # "dog" in 18 words
    assert [(b.label, b.count) for b in fig.acd_bins[:3]] == [("no audio concept", 1), ("0–5 %", 0), ("5–10 %", 1)]
    assert [b.count for b in fig.length_bins[:3]] == [0, 1, 1]


def test_valor32k_reference_is_measured_close_to_the_paper():
    ref = valor32k_figures()
    assert ref.captions == 32_318
    assert ref.avg_len == pytest.approx(PAPER_VALOR32K["avg_len"], abs=0.3)
    assert 5 < ref.acd < 12


def _caption(i, author, status, stage="second", seconds=60.0, draft=False, round_=1,
             text="a woman talks as a dog barks and a car engine roars past the house"):
    return CaptionRecord(i, stage, round_, author, text, seconds, draft, status)


def test_dashboard_figures_on_hand_made_records():
    captions = [
        _caption(1, "ann-1", "accepted", seconds=120.0),
        _caption(2, "ann-1", "rejected", seconds=60.0, text="a video"),
        _caption(3, "ann-1", "accepted", seconds=60.0, round_=2),
        _caption(4, "ann-2", "pending", seconds=None, draft=True),
        _caption(5, "ann-2", "accepted", stage="first", seconds=180.0, draft=True),
        _caption(6, "ann-3", "accepted", stage="training", seconds=30.0),
    ]
    verdicts = [VerdictRecord(1, "second", r, "accept", None, 5.0) for r in ("r1", "r2", "r3")]
    verdicts += [VerdictRecord(2, "second", "r1", "reject", "too-short", 5.0),
                 VerdictRecord(2, "second", "r2", "reject", "no-sound", 5.0),
                 VerdictRecord(2, "second", "r3", "accept", None, 5.0),
                 VerdictRecord(5, "first", "host-1", "accept", None, 9.0)]
    progress = {"training": {"open": 1}, "first": {"accepted": 1}, "second": {"accepted": 2, "review": 1}}
    d = dashboard(Records(progress, captions, verdicts, accepted_rounds=[1, 2, 1, 1], panel_size=3))

    assert d.progress == progress
    assert d.acceptance["second"].judged == 3 and d.acceptance["second"].accepted == 2
    assert d.acceptance["second"].rate == pytest.approx(2 / 3)
    assert d.acceptance["second"].verdicts == 6 and d.acceptance["second"].accept_verdicts == 4
    assert d.reasons["second"] == [("too-short", 1), ("no-sound", 1)] and d.reasons["first"] == []
    assert d.rounds == [(1, 3), (2, 1)]
    assert d.seconds["second"] == {"median": 60.0, "p90": 120.0, "n": 3}
    # 6 captions in 450 s of writing time -> 48 per hour; ann-1 wrote 3 in 240 s
    assert d.captions_per_hour == pytest.approx(6 * 3600 / 450)
    assert d.authors[0].author == "ann-1" and d.authors[0].per_hour == pytest.approx(45.0)
    # panels: [3, 0] and [1, 2] -> P = (1 + 1/3) / 2, accepts 4 of 6 -> Pe = 5/9
    assert d.kappa_panels == 2 and d.kappa == pytest.approx((2 / 3 - 5 / 9) / (1 - 5 / 9))
    assert d.text.captions == 3  # accepted, training left out
    groups = {g.group: g for g in d.drafts}
    assert groups["drafted"].captions == 2 and groups["drafted"].acceptance == 1.0
    assert groups["free-written"].captions == 4 and groups["free-written"].acceptance == pytest.approx(3 / 4)
    assert groups["free-written"].median_seconds == 60.0
    assert d.to_json()["paper_reference"] == PAPER_VALOR32K


def test_dashboard_of_an_empty_campaign():
    d = dashboard(Records({"training": {}, "first": {}, "second": {}}, [], [], [], 3))
    assert d.kappa is None and d.captions_per_hour is None and d.text.captions == 0 and d.drafts == []


def test_collect_reads_the_campaign_database(campaign, h):
    """A second-stage clip rejected 2 of 3 then rewritten and accepted, a first-stage clip accepted: the
    figures the dashboard shows, and the campaign's promises hold on the same database."""
    [second] = h.add_clips(campaign, 1, stage="second")
    [first] = h.add_clips(campaign, 1, stage="first", start=1)
    author = h.person(campaign)
    reviewers = [h.person(campaign, Role.REVIEWER) for _ in range(3)]
    host = h.person(campaign, Role.HOST)
    acks = []

    def write(text, seconds):
        task = next_write(campaign, author)
        saved = save_caption(campaign, author, task.lease, text, seconds)
        acks.append(Ack("caption", author.pseudonym, saved.caption_id, task.clip_id, text))
        return task

    def judge(who, verdict, reason=None):
        task = next_review(campaign, who)
        save_verdict(campaign, who, task.lease, verdict, reason, "", 4.0)
        acks.append(Ack("verdict", who.pseudonym, task.caption_id, task.clip_id, verdict))

    written = {write("a man stands in a room for a while", 30.0).clip_id}
    for who, verdict in zip(reviewers, ("reject", "reject", "accept"), strict=True):
        judge(who, verdict, "no-sound" if verdict == "reject" else None)
    written |= {write(h.GOOD, 90.0).clip_id, write(h.GOOD + " A dog barks.", 60.0).clip_id}
    for who in reviewers:
        judge(who, "accept")
    judge(host, "accept")

    records = collect(campaign)
    assert written == {first, second}
    assert records.progress["second"] == {"accepted": 1} and records.progress["first"] == {"accepted": 1}
    assert [c.status for c in records.captions] == ["rejected", "accepted", "accepted"]
    assert {c.author for c in records.captions} == {author.pseudonym}
    assert len(records.verdicts) == 7 and sorted(records.accepted_rounds) == [1, 2] and records.panel_size == 3
    d = dashboard(records)
    assert d.acceptance["second"].rate == pytest.approx(1 / 2) and d.reasons["second"] == [("no-sound", 2)]
    assert d.kappa_panels == 2 and d.rounds == [(1, 1), (2, 1)]
    assert d.captions_per_hour == pytest.approx(3 * 3600 / 180)
    assert check(campaign, acks).ok
    assert check(campaign, [Ack("caption", author.pseudonym, acks[0].caption_id, second, "another text")]).lost
