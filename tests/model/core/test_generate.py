"""Beam search on a toy next-token model with known answers, and the model's caption generation."""

from __future__ import annotations

import math

import pytest
import torch

from valor_model.generate import beam_search

BOS, EOS, V = 0, 1, 6


def table_step(table: dict[tuple[int, ...], dict[int, float]], default: dict[int, float]):
    """Next-token log-probs looked up from the generated prefix (tokens after BOS)."""

    def step(tokens: torch.Tensor) -> torch.Tensor:
        out = torch.full((tokens.shape[0], V), -1e9)
        for row, prefix in enumerate(tokens[:, 1:].tolist()):
            for tok, p in table.get(tuple(prefix), default).items():
                out[row, tok] = math.log(p)
        return out

    return step


def test_stops_at_eos_and_strips_it():
    step = table_step({(): {2: 1.0}, (2,): {3: 1.0}, (2, 3): {EOS: 1.0}}, {EOS: 1.0})
    assert beam_search(step, 2, BOS, EOS, beam_size=3, max_len=10) == [[2, 3], [2, 3]]


def test_respects_max_len_without_eos():
    step = table_step({}, {4: 0.9, 5: 0.1})
    for k in (1, 3):
        out = beam_search(step, 1, BOS, EOS, beam_size=k, max_len=7)
        assert out == [[4] * 7]


def test_beam_beats_greedy_when_the_greedy_first_step_is_a_trap():
    # greedy takes 2 (0.6) then faces a flat 0.2 distribution; beam finds 3 (0.4) -> EOS (1.0)
    table = {(): {2: 0.6, 3: 0.4}, (2,): {4: 0.2, 5: 0.2, EOS: 0.2}, (3,): {EOS: 1.0}}
    step = table_step(table, {EOS: 1.0})
    assert beam_search(step, 1, BOS, EOS, beam_size=1, max_len=5)[0][0] == 2
    assert beam_search(step, 1, BOS, EOS, beam_size=3, max_len=5) == [[3]]


def test_first_token_is_never_eos_and_banned_tokens_never_appear():
    step = table_step({(): {EOS: 0.9, 5: 0.05, 2: 0.05}}, {EOS: 1.0})
    assert beam_search(step, 1, BOS, EOS, beam_size=2, max_len=5, banned=[5]) == [[2]]


def test_batch_items_are_independent():
    def step(tokens):  # item 0 prefers 2, item 1 prefers 3; row n belongs to item n // 3
        out = torch.full((tokens.shape[0], V), -1e9)
        for row in range(tokens.shape[0]):
            if tokens.shape[1] > 2:
                out[row, EOS] = 0.0
            else:
                out[row, 2 + row // 3] = 0.0
        return out

    assert beam_search(step, 2, BOS, EOS, beam_size=3, max_len=6) == [[2, 2], [3, 3]]


def test_model_generate_is_deterministic_and_bounded(tiny, batch):
    with torch.no_grad():
        media = tiny.encode_media(batch["frames"][:2], batch["fbank"][:2], "av")
    tc = tiny.cfg.text
    first = tiny.generate(media, beam_size=3, max_len=6)
    assert first == tiny.generate(media, beam_size=3, max_len=6)
    assert len(first) == 2 and all(1 <= len(ids) <= 6 for ids in first)
    specials = {tc.pad_token_id, tc.cls_token_id, tc.sep_token_id, tc.mask_token_id}
    assert not specials & {t for ids in first for t in ids}
    greedy = tiny.generate(media, beam_size=1, max_len=4)
    assert all(1 <= len(ids) <= 4 for ids in greedy)
    a_only = tiny.generate({k: v for k, v in media.items() if k[0] == "a"}, beam_size=2, max_len=3)
    assert len(a_only) == 2
    with pytest.raises(ValueError, match="positions"):
        tiny.generate(media, max_len=tiny.text.encoder.config.max_position_embeddings)


def test_model_generation_matches_a_manual_greedy_decode(tiny, batch):
    """Greedy = argmax of the [MASK]-position logits, step by step, as the MGC decoder was trained."""
    with torch.no_grad():
        media = tiny.encode_media(batch["frames"][:1], None, "v")
        cond, cond_mask = tiny.condition(media)
        tokens = torch.tensor([[tiny.cfg.text.cls_token_id]])
        manual = []
        for _ in range(3):
            logp = tiny.next_token_logprobs(tokens, cond, cond_mask)
            for banned in (0, 100, 101, 103, 102) if not manual else (0, 100, 101, 103):
                logp[0, banned] = -float("inf")
            tok = int(logp.argmax())
            if tok == tiny.cfg.text.sep_token_id:
                break
            manual.append(tok)
            tokens = torch.cat([tokens, torch.tensor([[tok]])], dim=1)
    assert tiny.generate(media, beam_size=1, max_len=3) == [manual]


def test_kv_cached_generation_equals_full_recompute(tiny, batch):
    with torch.no_grad():
        media = tiny.encode_media(batch["frames"], batch["fbank"], "av")
    for beam in (1, 3):
        assert tiny.generate(media, beam, 8, use_cache=True) == tiny.generate(media, beam, 8, use_cache=False)
