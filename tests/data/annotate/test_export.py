"""A first-stage campaign run to its end on SQLite and PostgreSQL — accepted at once, accepted after
rework, decided by the host — then exported: ``valor-data acd`` reads desc_{split}.json back, the
provenance holds every caption with its verdicts; the common problems and the progress agree."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from click.testing import CliRunner
from sqlalchemy import select

from valor_data.annotate.assign import next_review, next_write
from valor_data.annotate.export import export
from valor_data.annotate.importing import import_clips
from valor_data.annotate.problems import common_problems, feedback_for
from valor_data.annotate.schema import captions, clips
from valor_data.annotate.states import Role
from valor_data.annotate.status import progress
from valor_data.annotate.work import host_decide, save_caption, save_verdict
from valor_data.cli import main
from valor_data.inputs import read_annotations

FIRST, SECOND, THIRD = "-2Abohj8VYx_30.000_40.000", "a_b_c_d_e_f_1.500_11.500", "Agi5ySKb1tY_23.700_33.700"


def _write(c, who, text):
    task = next_write(c, who)
    save_caption(c, who, task.lease, text, seconds=40)
    return task.clip_id


def _verdict(c, host, verdict, reason=None):
    task = next_review(c, host)
    return task, save_verdict(c, host, task.lease, verdict, reason, seconds=5).outcome


def _run_campaign(c, h, shard_dir):
    h.configure(c, max_rounds=2)
    import_clips(c, shard_dir, "first", split="val")
    writer, host = h.person(c), h.person(c, Role.HOST)
    text = {clip: f"{h.GOOD} It is clip {clip}." for clip in (FIRST, SECOND, THIRD)}
    for clip in (FIRST, SECOND, THIRD):
        assert _write(c, writer, text[clip]) == clip
    assert _verdict(c, host, "accept")[1] == "accepted"
    assert _verdict(c, host, "reject", "no-sound")[1] == "rework"
    assert _verdict(c, host, "reject", "no-sound")[1] == "rework"
    for clip in (SECOND, THIRD):
        text[clip] = f"{h.GOOD} A dog barks in clip {clip}."
        assert _write(c, writer, text[clip]) == clip
    assert _verdict(c, host, "accept")[1] == "accepted"
    task, outcome = _verdict(c, host, "reject", "wrong-content")
    assert outcome == "host"
    with c.db.read() as conn:
        first_try = conn.execute(select(captions.c.id).join(clips, clips.c.id == captions.c.clip_pk)
                                 .where(clips.c.clip_id == THIRD, captions.c.round == 1)).scalar()
    host_decide(c, host, first_try, "accept", comment="round 1 was right")
    text[THIRD] = f"{h.GOOD} It is clip {THIRD}."
    return writer, host, text


def test_export_is_read_back_by_acd_and_keeps_the_provenance(campaign, h, shard_dir, tmp_path):
    writer, host, text = _run_campaign(campaign, h, shard_dir)
    summary = export(campaign, tmp_path / "out", by=host)
    assert summary.captions == {"val": 3} and summary.provenance_rows == 5
    desc = tmp_path / "out" / "desc_val.json"
    records = list(read_annotations(desc))
    assert {r.video_id: r.captions for r in records} == {clip: (t,) for clip, t in text.items()}
    assert not any(r.problem for r in records)
    run = CliRunner().invoke(main, ["acd", str(desc), "--json", "--no-progress"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["captions"] == 3
    rows = pq.read_table(tmp_path / "out" / "provenance.parquet").to_pylist()
    assert [(r["clip_id"], r["round"], r["status"], r["final"]) for r in rows] == [
        (FIRST, 1, "accepted", True), (SECOND, 1, "rejected", False), (SECOND, 2, "accepted", True),
        (THIRD, 1, "accepted", True), (THIRD, 2, "rejected", False)]
    assert {r["author"] for r in rows} == {writer.pseudonym} and {r["seconds"] for r in rows} == {40.0}
    decided = rows[3]["verdicts"]
    assert [(v["reviewer"], v["verdict"], v["reason"], v["by_host"]) for v in decided] == [
        (host.pseudonym, "reject", "no-sound", False), (host.pseudonym, "accept", None, True)]
    assert decided[1]["comment"] == "round 1 was right" and decided[0]["seconds"] == 5.0
    assert rows[0]["draft_shown"] is False and rows[0]["stage"] == "first" and rows[0]["split"] == "val"


def test_common_problems_feedback_and_progress(campaign, h, shard_dir):
    writer, host, _ = _run_campaign(campaign, h, shard_dir)
    problems = common_problems(campaign)
    assert [(p.reason, p.count, p.clip_ids) for p in problems] == [("no-sound", 2, [SECOND, THIRD]),
                                                                   ("wrong-content", 1, [THIRD])]
    other = h.person(campaign)
    assert common_problems(campaign, writer.id) == problems and common_problems(campaign, other.id) == []
    rejected = feedback_for(campaign, writer)
    # THIRD's round 1 was rejected, then the host's pick: accepted, so not in the list
    assert [(r.clip_id, r.round, r.clip_state) for r in rejected] == [(THIRD, 2, "accepted"), (SECOND, 1, "accepted")]
    assert rejected[0].feedback[0].reviewer == host.pseudonym
    p = progress(campaign)
    assert p["stages"]["first"] == {"clips": {"accepted": 3}, "captions": {"accepted": 3, "rejected": 2},
                                    "verdicts": {"accept": 2, "reject": 3}}
    assert p["people"] == {"annotator": 2, "host": 1}
