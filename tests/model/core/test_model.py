"""ValorModel forward + ValorLoss: shapes, masks, group subsets, backward, and learning on a fixed batch."""

from __future__ import annotations

import pytest
import torch

from valor_model.factory import create_model
from valor_model.losses import IGNORE, ValorLoss


def test_forward_output_shapes_and_masks(tiny, batch):
    cfg = tiny.cfg
    with torch.no_grad():
        out = tiny(batch, generator=torch.Generator().manual_seed(0))
    b, e, length = 4, cfg.embed_dim, cfg.max_text_len
    assert out["t_emb"].shape == (b, length, e) and out["t_weight"].shape == (b, length)
    assert torch.equal(out["t_mask"], batch["attention_mask"].bool())
    assert out["v_emb"].shape == (b, cfg.num_frames, e) and out["v_mask"].all()
    assert out["a_emb"].shape == (b, cfg.audio_slices, e) and out["a_mask"].all()
    torch.testing.assert_close(out["v_emb"].norm(dim=-1), torch.ones(b, cfg.num_frames))
    for group in cfg.groups:
        logits, labels = out[f"mgc_logits_{group}"], out[f"mgc_labels_{group}"]
        assert logits.shape == (labels.shape[0], cfg.text.vocab_size)
        assert (labels != IGNORE).all() and labels.shape[0] >= b
    assert out["temperature"].item() == pytest.approx(0.07)


def test_loss_terms_are_named_finite_and_weighted(tiny, batch):
    with torch.no_grad():
        terms = ValorLoss(tiny.cfg)(tiny(batch, generator=torch.Generator().manual_seed(0)))
    assert {"loss_mga", "loss_mgc", "temperature"} <= set(terms)
    assert {f"{k}_{g}" for k in ("mga", "mgc") for g in ("tv", "ta", "tav")} <= set(terms)
    assert all(torch.isfinite(v) for v in terms.values())
    mga_mean = torch.stack([terms[f"mga_{g}"] for g in ("tv", "ta", "tav")]).mean()
    torch.testing.assert_close(terms["loss_mga"], 1.5 * mga_mean)
    # untrained: MGC near ln(vocab), MGA near ln(batch)
    assert 9.0 < terms["loss_mgc"] < 11.5 and 0.5 < terms["mga_tv"] < 3.0


@pytest.mark.parametrize("groups", [("tv",), ("ta", "tav")])
def test_group_subsets_backward(groups, batch_factory):
    torch.manual_seed(0)
    model = create_model("tiny", groups=groups)
    batch = batch_factory(model, captions=["a dog barks", "rain falls on a roof"])
    if "a" not in "".join(groups):
        del batch["fbank"]  # a video-only objective needs no audio
    if "v" not in "".join(groups):
        del batch["frames"]
    terms = ValorLoss(model.cfg)(model(batch))
    assert {k for k in terms if k.startswith("mgc_")} == {f"mgc_{g}" for g in groups}
    (terms["loss_mga"] + terms["loss_mgc"]).backward()
    assert model.temperature.grad is not None and torch.isfinite(model.temperature.grad)
    assert model.text.decoder.encoder.layer[0].crossattention.self.query.weight.grad is not None
    used_audio = model.audio.ast.embeddings.cls_token.grad is not None
    assert used_audio == ("a" in "".join(groups))


def test_padding_frames_are_ignored(tiny, batch):
    """A frame marked invalid may hold anything: similarity and captions do not change."""
    mask = torch.ones(4, tiny.cfg.num_frames, dtype=torch.bool)
    mask[:, -1] = False
    noisy = batch["frames"].clone()
    noisy[:, -1] = 50 * torch.randn_like(noisy[:, -1])
    with torch.no_grad():
        text = tiny.encode_text(batch["input_ids"], batch["attention_mask"])
        a = tiny.encode_media(batch["frames"], batch["fbank"], "av", frames_mask=mask)
        b = tiny.encode_media(noisy, batch["fbank"], "av", frames_mask=mask)
        torch.testing.assert_close(tiny.similarity(text, a), tiny.similarity(text, b))
    assert tiny.generate(a, beam_size=2, max_len=4) == tiny.generate(b, beam_size=2, max_len=4)


def test_missing_modality_input_is_a_clear_error(tiny, batch):
    with pytest.raises(ValueError, match="needs `fbank`"):
        tiny.encode_media(frames=batch["frames"], modality="av")
    with pytest.raises(ValueError, match="modality"):
        tiny.encode_media(frames=batch["frames"], modality="x")
    with pytest.raises(ValueError, match=r"\[B, F, 3, H, W\]"):
        tiny.encode_media(frames=batch["frames"][0], modality="v")


def test_a_few_steps_on_one_batch_lower_the_loss(batch_factory):
    torch.manual_seed(0)
    model = create_model("tiny", text={"dropout": 0.0})
    model.train()
    batch = batch_factory(model, captions=["a red square moves left", "a low beep repeats fast"], seed=1)
    loss_fn = ValorLoss(model.cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.01)
    losses = []
    for _ in range(5):
        terms = loss_fn(model(batch, generator=torch.Generator().manual_seed(0)))
        loss = terms["loss_mga"] + terms["loss_mgc"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0, losses  # more than a nat lower after 5 steps
