"""`predict`: AVR matrices and AVC captions that valor-bench accepts, batching that does not change scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from valor_bench.cli import main as bench_main
from valor_bench.coverage import read_availability
from valor_model.data import ValorLoader, stream_config_for
from valor_model.factory import get_tokenizer
from valor_model.predict import PredictError, PredictOptions, load_model, predict, read_annotations
from valor_model.train import TrainOptions, train


@pytest.fixture(scope="module")
def checkpoint(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict_run")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainOptions(config="tiny", train_shards=str(shards.train[0].parent), out=str(out), batch_size=4,
                           max_steps=2, num_workers=0, progress=False))
    finally:
        torch.set_num_threads(before)
    return out


def validate(path, task, annotations) -> tuple[int, str]:
    res = CliRunner().invoke(bench_main, ["validate", str(path), "--task", task, "--annotations", str(annotations)])
    return res.exit_code, res.output


def test_avr_matrix_passes_valor_bench_validate(shards, checkpoint, tmp_path):
    out = tmp_path / "avr.npz"
    gt = tmp_path / "gt.json"
    summary = predict(PredictOptions(task="avr", checkpoint=str(checkpoint), shards=str(shards.test[0]), out=str(out),
                                     batch_size=3, num_workers=0, annotations_out=str(gt), progress=False))
    assert summary["texts"] == summary["videos"] == 8
    with np.load(out) as z:
        sim, text_ids, video_ids = z["sim"], list(z["text_ids"]), list(z["video_ids"])
    assert sim.shape == (8, 8) and sim.dtype == np.float32 and np.isfinite(sim).all()
    assert text_ids == [f"{v}#0" for v in video_ids]
    assert json.loads(gt.read_text()) == json.loads(shards.test_annotations.read_text())
    assert json.loads((tmp_path / "avr.meta.json").read_text())["modality"] == "av"
    code, output = validate(out, "avr", gt)
    assert code == 0, output


def test_avr_scores_do_not_depend_on_the_batching(shards, checkpoint, tmp_path):
    """The gallery is encoded in batches of 3 and scored per text block: every cell must equal the
    model's similarity computed for the whole set at once."""
    predict(PredictOptions(task="avr", checkpoint=str(checkpoint), shards=str(shards.test[0]),
                           out=str(tmp_path / "a.npz"), batch_size=3, num_workers=0, progress=False))
    model, _ = load_model(checkpoint, torch.device("cpu"))

    tok = get_tokenizer(model.cfg)
    loader = ValorLoader(shards.test, stream_config_for(model.cfg, 8, train=False), tok)
    loader.set_epoch(0)
    batch = next(iter(loader))
    with torch.no_grad():
        text = model.encode_text(batch["input_ids"], batch["attention_mask"])
        media = model.encode_media(frames=batch["frames"], fbank=batch["fbank"], modality="av")
        want = model.similarity(text, media).numpy()
    with np.load(tmp_path / "a.npz") as z:
        np.testing.assert_allclose(z["sim"], want, rtol=1e-4, atol=1e-5)


def test_avc_captions_pass_valor_bench_validate(shards, checkpoint, tmp_path):
    out = tmp_path / "avc.json"
    predict(PredictOptions(task="avc", checkpoint=str(checkpoint), shards=str(shards.test[0]), out=str(out),
                           batch_size=4, num_workers=0, progress=False, max_len=8))
    records = json.loads(out.read_text())
    assert [r["video_id"] for r in records] == [a["video_id"] for a in json.loads(shards.test_annotations.read_text())]
    assert all(isinstance(r["caption"], str) and r["caption"] and "[" not in r["caption"] for r in records)
    assert all(len(r["caption"].split()) <= 8 for r in records)
    code, output = validate(out, "avc", shards.test_annotations)
    assert code == 0, output


@pytest.mark.parametrize(("modality", "present", "absent"), [("v", "no_audio", "bad_video"), ("a", "bad_video", "no_audio")])
def test_single_modality_needs_only_its_own_stream(shards, checkpoint, tmp_path, modality, present, absent):
    out = tmp_path / f"{modality}.npz"
    summary = predict(PredictOptions(task="avr", checkpoint=str(checkpoint), shards=str(shards.train[0].parent),
                                     out=str(out), modality=modality, num_workers=0, progress=False))
    key = {reason: key for key, reason in shards.bad_keys.items()}
    with np.load(out) as z:
        ids = list(z["video_ids"])
    assert summary["videos"] == shards.n_train_good + 1
    assert any(v.startswith(key[present].split("_")[0]) for v in ids)  # kept: its missing stream is not used
    assert not any(v.startswith(key[absent].split("_")[0]) for v in ids)  # skipped and counted
    assert summary["samples"][absent] == 1


def test_annotations_cover_every_captioned_clip_without_decoding(shards):
    ann = read_annotations([str(p) for p in shards.train])
    assert len(ann) == 20  # the broken clips are part of the ground truth: a submission must cover them
    assert all(isinstance(a["desc"], str) for a in ann)


def test_bad_options_are_one_line_errors(shards, checkpoint, tmp_path):
    with pytest.raises(PredictError, match="AVR submission is a .npz"):
        PredictOptions(task="avr", checkpoint="x", shards="y", out=str(tmp_path / "a.json"))
    with pytest.raises(PredictError, match="--checkpoint"):
        predict(PredictOptions(task="avc", checkpoint=str(tmp_path), shards=str(shards.test[0]),
                               out=str(tmp_path / "c.json"), progress=False))
    with pytest.raises(PredictError, match="--shards"):
        predict(PredictOptions(task="avc", checkpoint=str(checkpoint), shards=str(tmp_path / "none-{0..1}.tar"),
                               out=str(tmp_path / "c.json"), progress=False))


def test_shards_lacking_clips_give_a_submission_and_its_availability_list(shards, checkpoint, tmp_path):
    """The train shards hold 20 captioned clips of which 2 cannot be decoded: the submission covers the 18
    others (no zeros for the missing media) and the availability list scores it as 90 % coverage."""
    out, gt = tmp_path / "avr.npz", tmp_path / "gt.json"
    summary = predict(PredictOptions(task="avr", checkpoint=str(checkpoint), shards=str(shards.train[0].parent),
                                     out=str(out), num_workers=0, annotations_out=str(gt), progress=False))
    avail = tmp_path / "avr.available.txt"
    assert summary["available_out"] == str(avail) and summary["available"] == 18 and summary["skipped"] == 2

    listed = read_availability(avail)
    with np.load(out) as z:
        assert sorted(listed.clip_ids) == sorted(z["video_ids"].tolist())
    assert listed.header["digest"] == f"sha256:{summary['available_digest']}"
    assert len(json.loads(gt.read_text())) == 20
    code, output = validate(out, "avr", gt)  # without the list, the two undecodable clips are missing
    assert code == 1 and "video ids of the ground truth missing (2)" in output
    res = CliRunner().invoke(bench_main, ["evaluate", str(out), "--task", "avr", "--annotations", str(gt),
                                          "--available", str(avail), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["coverage"] == {"scored": 18, "split_clips": 20, "share": 0.9, "percent": 90.0,
                                                  "digest": summary["available_digest"], "partial": True}
