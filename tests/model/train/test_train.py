"""The trainer: optimiser groups, schedule, learning on the fixture shards, checkpoints and exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from valor_model.factory import create_model
from valor_model.train import (
    Trainer,
    TrainError,
    TrainOptions,
    build_optimizer,
    latest_checkpoint,
    load_checkpoint,
    no_decay,
    train,
    warmup_linear,
)


def options(shards, out: Path, **kw) -> TrainOptions:
    base = dict(config="tiny", train_shards=str(shards.train[0].parent), out=str(out), batch_size=2, max_steps=4,
                num_workers=0, log_every=1, checkpoint_every=2, lr=5e-4, progress=False, shuffle_buffer=8)
    return TrainOptions(**{**base, **kw})


def losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r and "event" not in r}


def test_no_weight_decay_on_biases_norms_and_scalars():
    model = create_model("tiny")
    opt = build_optimizer(model, 1e-4, 0.01, (0.9, 0.98))
    decay, plain = (set(map(id, g["params"])) for g in opt.param_groups)
    names = {id(p): n for n, p in model.named_parameters()}
    assert opt.param_groups[0]["weight_decay"] == 0.01 and opt.param_groups[1]["weight_decay"] == 0.0
    assert opt.defaults["betas"] == (0.9, 0.98)
    assert all(p.ndim >= 2 for p in model.parameters() if id(p) in decay)
    assert any("LayerNorm.weight" in names[i] for i in plain) and any(names[i].endswith("bias") for i in plain)
    assert id(model.temperature) in plain
    assert not no_decay("text.encoder.encoder.layer.0.attention.self.query.weight", torch.nn.Parameter(torch.ones(2, 2)))
    assert len(decay) + len(plain) == len(list(model.parameters()))


def test_warmup_then_linear_decay():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = warmup_linear(opt, warmup=4, total=12)
    lrs = []
    for _ in range(12):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert lrs[4] == pytest.approx(1.0) and lrs[-1] == pytest.approx(1 / 8)
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:], strict=False))


def test_a_few_steps_lower_the_validation_loss(shards, tmp_path):
    opts = options(shards, tmp_path / "run", batch_size=6, max_steps=8, lr=2e-3, warmup_steps=1,
                   val_shards=str(shards.test[0]), checkpoint_every=100)
    trainer = Trainer(opts)
    before = trainer.validate()
    summary = trainer.fit()
    after = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-2])
    assert after["split"] == "val" and after["step"] == 8
    assert after["val_loss"] < before["val_loss"] - 0.1, (before, after)
    assert summary["samples"]["no_audio"] >= 1 and summary["samples"]["bad_video"] >= 1
    assert summary["flops_per_sample"] > 0


def test_resume_gives_exactly_the_uninterrupted_losses(shards, tmp_path):
    train(options(shards, tmp_path / "full"))
    train(options(shards, tmp_path / "cut", stop_after=2))
    assert set(losses(tmp_path / "cut")) == {1, 2}
    ckpt = load_checkpoint(tmp_path / "cut")
    assert ckpt["step"] == 2 and set(ckpt["ranks"][0]) == {"rng", "position", "epoch"}
    assert ckpt["ranks"][0]["position"]["batches"] == 2
    train(options(shards, tmp_path / "cut", resume=True))
    full, resumed = losses(tmp_path / "full"), losses(tmp_path / "cut")
    assert full[1] != full[3]  # the losses differ step to step, so equality below is meaningful
    assert resumed == full  # steps 3 and 4 after the resume are bit-identical


def test_checkpoints_are_kept_pruned_and_pointed_to(shards, tmp_path):
    out = tmp_path / "run"
    train(options(shards, out, max_steps=3, checkpoint_every=1, keep_checkpoints=2))
    names = sorted(p.name for p in (out / "checkpoints").glob("step_*.pt"))
    assert names == ["step_00000002.pt", "step_00000003.pt"]
    assert latest_checkpoint(out).name == "step_00000003.pt"
    assert not list((out / "checkpoints").glob(".*tmp*"))
    ckpt = load_checkpoint(out / "checkpoints" / "step_00000003.pt")
    model = create_model(ckpt["model_config"], random_init=True)
    model.load_state_dict(ckpt["model"])  # a checkpoint rebuilds its model from its own config
    assert json.loads((out / "model_config.json").read_text())["name"] == "tiny"


def test_run_directory_guards(shards, tmp_path):
    with pytest.raises(TrainError, match="holds no checkpoint"):
        Trainer(options(shards, tmp_path / "new", resume=True))
    train(options(shards, tmp_path / "old", max_steps=1))
    with pytest.raises(TrainError, match="pass --resume"):
        Trainer(options(shards, tmp_path / "old"))
    with pytest.raises(TrainError, match="--max-steps or --epochs"):
        Trainer(options(shards, tmp_path / "x", max_steps=None))
    with pytest.raises(TrainError, match="batch_size|batch-size"):
        options(shards, tmp_path / "y", batch_size=0)
