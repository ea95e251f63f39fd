"""Batched beam search (beam 1 = greedy) over a next-token log-probability function.

VALOR trains its decoder with MGC: causal self-attention over a caption whose tokens are partly replaced
by [MASK], predicting each masked token *at its own position*. The official code decodes the same way,
and so do we: the hypothesis so far plus one trailing [MASK] is fed to the decoder, and the logits at
the [MASK] position give the next token (see ValorModel.next_token_logprobs). Predicting token i+1 from
position i, GPT style, would use a head that MGC never trained.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

StepFn = Callable[[torch.Tensor], torch.Tensor]  # tokens [N, t] -> log-probs [N, V] of token t
ReorderFn = Callable[[torch.Tensor], None]  # row indices [N]: row n now continues old row indices[n]


@torch.no_grad()
def beam_search(
    step: StepFn,
    batch_size: int,
    bos: int,
    eos: int,
    beam_size: int = 3,
    max_len: int = 30,
    banned: Iterable[int] = (),
    device: torch.device | str = "cpu",
    reorder: ReorderFn | None = None,
) -> list[list[int]]:
    """Best hypothesis per item, without the leading `bos` and the `eos`: at most `max_len` tokens.

    Hypotheses are ranked by length-normalised log-probability (sum / number of generated tokens,
    [SEP] included). Row n of `step`'s input is beam n % beam_size of item n // beam_size. Finished
    beams are carried with no extra cost; `eos` is forbidden as the first token (no empty captions).
    `reorder`, if given, is told after every step which old row each row continues (for KV caches).
    """
    if beam_size < 1 or max_len < 1:
        raise ValueError(f"beam_size and max_len must be >= 1, got {beam_size}, {max_len}")
    b, k = batch_size, beam_size
    tokens = torch.full((b * k, 1), bos, dtype=torch.long, device=device)
    scores = torch.zeros(b, k, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: expand from beam 0 only
    lengths = torch.zeros(b, k, device=device)
    finished = torch.zeros(b, k, dtype=torch.bool, device=device)
    banned = torch.tensor(sorted(set(banned)), dtype=torch.long, device=device)
    for t in range(max_len):
        logp = step(tokens).float().view(b, k, -1)
        vocab = logp.shape[-1]
        logp[..., banned] = float("-inf")
        if t == 0:
            logp[..., eos] = float("-inf")
        done_row = torch.full((vocab,), float("-inf"), device=device)
        done_row[eos] = 0.0
        logp = torch.where(finished[..., None], done_row, logp)
        new_len = lengths + (~finished).float()
        cand = scores[..., None] + logp  # [b, k, V]
        norm = (cand / new_len[..., None].clamp(min=1.0)).view(b, k * vocab)
        top = norm.topk(k, dim=1).indices  # [b, k]
        beam, tok = top // vocab, top % vocab
        scores = cand.view(b, k * vocab).gather(1, top)
        lengths = new_len.gather(1, beam)
        finished = finished.gather(1, beam) | (tok == eos)
        prev = tokens.view(b, k, -1).gather(1, beam[..., None].expand(-1, -1, tokens.shape[1]))
        tokens = torch.cat([prev, tok[..., None]], dim=2).view(b * k, -1)
        if finished.all():
            break
        if reorder is not None:
            reorder((beam + k * torch.arange(b, device=device)[:, None]).view(-1))
    best = (scores / lengths.clamp(min=1.0)).argmax(dim=1)
    chosen = tokens.view(b, k, -1)[torch.arange(b, device=device), best, 1:]
    return [_strip(row.tolist(), eos) for row in chosen]


def _strip(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids
