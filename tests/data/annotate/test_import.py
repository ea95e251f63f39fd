"""Clips into a campaign from a shard directory (tar byte offsets) and a fetch directory (files), on SQLite
and PostgreSQL (COPY): labels by name, idempotent re-imports, unservable rows left out with their reason,
drafts and the word edit distance of what the writer made of them."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from valor_data.annotate.assign import next_write
from valor_data.annotate.drafts import DraftsError, load_drafts, word_edit_distance
from valor_data.annotate.importing import import_clips
from valor_data.annotate.schema import captions, clips
from valor_data.annotate.work import save_caption
from valor_data.web.errors import InputError


def _clips(c):
    with c.db.read() as conn:
        return {r.clip_id: r for r in conn.execute(select(clips))}


def test_a_shard_directory_imports_its_ok_clips_with_tar_offsets(campaign, shard_dir, fetch_dir):
    summary = import_clips(campaign, shard_dir, "second", split="val")
    assert (summary.kind, summary.imported, summary.existing, summary.not_ok, summary.bad) == ("shards", 3, 0, 1, 0)
    rows = _clips(campaign)
    assert sorted(rows) == ["-2Abohj8VYx_30.000_40.000", "Agi5ySKb1tY_23.700_33.700", "a_b_c_d_e_f_1.500_11.500"]
    row = rows["a_b_c_d_e_f_1.500_11.500"]
    assert (row.stage, row.gold, row.split, row.state, row.round) == ("second", False, "val", "open", 1)
    assert json.loads(row.labels) == ["Speech", "Animal"]
    assert json.loads(rows["Agi5ySKb1tY_23.700_33.700"].labels) == ["/m/0unknown"]  # unknown mids stay as they are
    media = json.loads(row.media)
    assert media["kind"] == "tar" and media["path"].startswith(str(shard_dir))
    with open(media["path"], "rb") as tar:  # the offsets point at the very bytes fetch wrote
        for member, suffix in (("video", "mp4"), ("audio", "flac")):
            offset, size = media[member]
            tar.seek(offset)
            assert tar.read(size) == (fetch_dir / "clips" / f"{row.key}.{suffix}").read_bytes()
    again = import_clips(campaign, shard_dir, "second")
    assert (again.imported, again.existing) == (0, 3) and len(_clips(campaign)) == 3


def test_a_fetch_directory_imports_files(campaign, fetch_dir):
    summary = import_clips(campaign, fetch_dir, "training")
    assert (summary.kind, summary.imported, summary.not_ok) == ("fetch", 3, 1)
    row = _clips(campaign)["-2Abohj8VYx_30.000_40.000"]
    assert row.gold and row.split == "train"
    assert json.loads(row.media) == {"kind": "files", "video": str(fetch_dir / "clips" / f"{row.key}.mp4"),
                                     "audio": str(fetch_dir / "clips" / f"{row.key}.flac")}


def test_unservable_rows_are_left_out_with_their_reason(campaign, shard_dir, fetch_dir, tmp_path):
    broken = shutil.copytree(shard_dir, tmp_path / "broken")
    first_tar = sorted(broken.glob("*.tar"))[0]
    first_tar.unlink()
    summary = import_clips(campaign, broken, "first")
    assert (summary.imported, summary.bad) == (1, 2)
    assert all(f"tar {first_tar.name} is not in" in why for _, why in summary.problems)
    fetched = shutil.copytree(fetch_dir, tmp_path / "fetched")
    next(fetched.glob("clips/*.flac")).unlink()
    summary = import_clips(campaign, fetched, "first")
    assert summary.bad == 1 and "its audio file clips/" in summary.problems[0][1]


def test_bad_arguments_are_refused(campaign, tmp_path, shard_dir):
    with pytest.raises(InputError, match="stage: 'third' is not one of training, first, second"):
        import_clips(campaign, shard_dir, "third")
    with pytest.raises(InputError, match="gold: the training stage's clips are the gold clips"):
        import_clips(campaign, shard_dir, "first", gold=True)
    with pytest.raises(InputError, match="neither a shard directory"):
        import_clips(campaign, tmp_path, "first")
    (tmp_path / "manifest.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="manifest.parquet: cannot read it as parquet"):
        import_clips(campaign, tmp_path, "first")


def test_drafts_are_shown_and_their_edits_measured(campaign, shard_dir, tmp_path, h):
    h.configure(campaign, drafts=True)
    predictions = tmp_path / "avc.json"
    predictions.write_text(json.dumps([{"video_id": "-2Abohj8VYx_30.000_40.000",
                                        "caption": "a man plays a guitar on a stage while people cheer"}]))
    summary = import_clips(campaign, shard_dir, "first", drafts=predictions)
    assert summary.drafts == 1
    writer = h.person(campaign)
    task = next_write(campaign, writer)
    assert task.clip_id == "-2Abohj8VYx_30.000_40.000" and task.draft.startswith("a man plays")
    save_caption(campaign, writer, task.lease, "a man plays an old guitar on a stage while people cheer loudly")
    with campaign.db.read() as conn:
        row = conn.execute(select(captions.c.draft_shown, captions.c.draft_edit_words)).one()
    assert tuple(row) == (True, 3)  # "a" -> "an", + "old", + "loudly"
    other = next_write(campaign, writer)
    assert other.draft is None
    save_caption(campaign, writer, other.lease, h.GOOD, draft_shown=True)  # no draft: none was shown
    with campaign.db.read() as conn:
        assert conn.execute(select(captions.c.draft_shown).order_by(captions.c.id.desc())).scalar() is False


def test_load_drafts_reads_avc_predictions_and_refuses_bad_ones(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"video_id": "a_0.000_10.000", "caption": "x  y"}\n{"clip_id": "b_0.000_10.000", "caption": ["z"]}\n')
    assert load_drafts(path) == {"a_0.000_10.000": "x y", "b_0.000_10.000": "z"}
    for text, message in [('[{"video_id": "a"}]', "record 1: 'caption' must be a non-empty string"),
                          ('[{"video_id": "a", "caption": "x"}, {"video_id": "a", "caption": "y"}]',
                           "record 2: clip a has a second draft"),
                          ('{"a": 1}', "expected a JSON list"), ('[3]', "record 1: expected an object")]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(DraftsError, match=message):
            load_drafts(bad)


def test_word_edit_distance():
    assert word_edit_distance("a dog barks", "a dog barks") == 0
    assert word_edit_distance("a dog barks", "the dog barks loudly") == 2
    assert word_edit_distance("", "two words") == 2 and word_edit_distance("two words", "") == 2
