"""MGC masking: rates over many captions, never [CLS]/padding, at least one per caption, reproducible."""

from __future__ import annotations

import torch

from valor_model.config import TextCfg
from valor_model.losses import IGNORE, mask_tokens

CFG = TextCfg()


def _captions(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 38, (n,), generator=g)  # words between [CLS] and [SEP]
    ids = torch.zeros(n, 40, dtype=torch.long)
    ids[:, 0] = CFG.cls_token_id
    for i, n_words in enumerate(lengths.tolist()):
        ids[i, 1 : 1 + n_words] = torch.randint(1000, 30000, (n_words,), generator=g)
        ids[i, 1 + n_words] = CFG.sep_token_id
    return ids, (ids != CFG.pad_token_id).long()


def test_masking_statistics():
    ids, attn = _captions(4000)
    masked, labels = mask_tokens(ids, attn, CFG, 0.6, torch.Generator().manual_seed(1))
    chosen = labels != IGNORE
    eligible = attn.bool() & (ids != CFG.cls_token_id)
    assert not (chosen & ~eligible).any(), "a [CLS] or padding position was chosen"
    assert chosen.any(dim=1).all(), "a caption without any masked token"
    assert torch.equal(labels[chosen], ids[chosen])
    rate = chosen.sum() / eligible.sum()
    assert abs(rate - 0.6) < 0.02, rate
    as_mask = (masked == CFG.mask_token_id) & chosen
    kept = (masked == ids) & chosen
    replaced = chosen & ~as_mask & ~kept
    n = chosen.sum()
    assert abs(as_mask.sum() / n - 0.8) < 0.01
    assert abs(replaced.sum() / n - 0.1) < 0.01
    assert abs(kept.sum() / n - 0.1) < 0.01  # random draws may equal the original: negligible here
    assert (masked[replaced] >= CFG.first_word_id).all()
    assert torch.equal(masked[~chosen], ids[~chosen]), "unchosen tokens must stay as they are"


def test_single_token_captions_always_get_their_token_masked():
    ids = torch.tensor([[101, 102, 0, 0]] * 50)
    attn = (ids != 0).long()
    _, labels = mask_tokens(ids, attn, CFG, 0.05, torch.Generator().manual_seed(0))
    assert (labels[:, 1] == 102).all() and (labels[:, [0, 2, 3]] == IGNORE).all()


def test_generator_makes_masking_reproducible():
    ids, attn = _captions(64, seed=3)
    a = mask_tokens(ids, attn, CFG, 0.6, torch.Generator().manual_seed(7))
    b = mask_tokens(ids, attn, CFG, 0.6, torch.Generator().manual_seed(7))
    c = mask_tokens(ids, attn, CFG, 0.6, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
