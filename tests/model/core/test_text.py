"""Text tower: decoder shares every tensor with the encoder except cross-attention; causal vs bidirectional."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel

from valor_model.factory import create_model
from valor_model.text import minilm_dir


def test_decoder_shares_all_but_cross_attention(tiny):
    enc = dict(tiny.text.encoder.named_parameters())
    dec = dict(tiny.text.decoder.named_parameters(remove_duplicate=False))
    shared = [n for n in dec if n in enc and dec[n] is enc[n]]
    own = [n for n in dec if n not in shared]
    assert len(shared) == 37 and len(dec) == 57  # 2 layers: 5 embedding + 2 x 16 per layer shared
    assert all(dec[n].data_ptr() == enc[n].data_ptr() for n in shared)
    assert own and all("crossattention" in n for n in own)
    assert all(dec[n].data_ptr() != p.data_ptr() for n in own for p in enc.values())


def test_lm_head_is_tied_to_word_embeddings(tiny):
    weight = tiny.text.word_embeddings.weight
    assert tiny.text.decoder.embeddings.word_embeddings.weight is weight
    hidden = torch.randn(3, tiny.text.width)
    expected = tiny.text.head_transform(hidden) @ weight.t() + tiny.text.head_bias
    torch.testing.assert_close(tiny.text.lm_logits(hidden), expected)


def test_tied_parameters_counted_once_and_stay_tied_after_a_step(batch_factory):
    model = create_model("tiny", groups=("tv",))
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.startswith("text.decoder.") and "crossattention" not in n for n in names)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = batch_factory(model)
    out = model(batch, generator=torch.Generator().manual_seed(0))
    out["mgc_logits_tv"].logsumexp(-1).mean().backward()
    opt.step()
    enc_q = model.text.encoder.encoder.layer[0].attention.self.query.weight
    assert model.text.decoder.encoder.layer[0].attention.self.query.weight is enc_q


def _decoder_logits(model, ids, cond):
    hidden = model.text.decode(ids, torch.ones_like(ids), cond, torch.ones(cond.shape[:2], dtype=torch.bool))
    return model.text.lm_logits(hidden)


def test_decoder_is_causal_encoder_is_not(tiny):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 30000, (2, 12), generator=g)
    ids[:, 0] = 101
    changed = ids.clone()
    changed[:, 8:] = torch.randint(1000, 30000, (2, 4), generator=g)
    cond = torch.randn(2, 6, tiny.text.width, generator=g)
    with torch.no_grad():
        before, after = _decoder_logits(tiny, ids, cond), _decoder_logits(tiny, changed, cond)
        torch.testing.assert_close(before[:, :8], after[:, :8], rtol=0, atol=1e-5)
        assert (before[:, 8:] - after[:, 8:]).abs().max() > 1e-3
        enc_before = tiny.text.encode(ids, torch.ones_like(ids))
        enc_after = tiny.text.encode(changed, torch.ones_like(ids))
    assert (enc_before[:, :8] - enc_after[:, :8]).abs().max() > 1e-3  # bidirectional


def test_decoder_uses_the_condition(tiny):
    ids = torch.tensor([[101, 2054, 2003, 103]])
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        a = _decoder_logits(tiny, ids, torch.randn(1, 4, tiny.text.width, generator=g))
        b = _decoder_logits(tiny, ids, torch.randn(1, 4, tiny.text.width, generator=g))
    assert (a - b).abs().max() > 1e-3


def test_minilm_text_weights_load_offline():
    model = create_model("tiny", text_weights="minilm")
    state = load_file(str(minilm_dir() / "model.safetensors"))
    key = next(k for k in state if k.endswith("encoder.layer.3.attention.self.query.weight"))
    torch.testing.assert_close(model.text.encoder.encoder.layer[3].attention.self.query.weight, state[key])
    assert model.cfg.text.hidden_size == 384 and model.cfg.text.num_layers == 6  # cfg follows the checkpoint
    dec_q = model.text.decoder.encoder.layer[3].attention.self.query.weight
    assert dec_q is model.text.encoder.encoder.layer[3].attention.self.query.weight


def test_decoder_checkpoint_refused(tmp_path):
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, is_decoder=True)
    BertModel(cfg).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="decoder checkpoint"):
        create_model("tiny", text_weights=str(tmp_path))
