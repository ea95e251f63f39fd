"""VALOR's two objectives: MGA (fine-grained contrastive alignment) and MGC (causal masked captioning).

Feature dicts are flat and batch-first: for a modality m in {"t", "v", "a"} the keys ``{m}_emb``
[N, L, E] (projected, L2-normalised token/frame/slice features), ``{m}_weight`` [N, L] (logits of the
learned position weights) and ``{m}_mask`` [N, L] (bool, True = valid). The audiovisual view "av" is the
concatenation of "v" and "a" along the sequence (paper: AV = [V; A]).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from valor_model.config import TextCfg, ValorConfig

IGNORE = -100
MEDIA_PARTS = {"v": ("v",), "a": ("a",), "av": ("v", "a")}  # AV = [V; A], video first


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over valid positions; rows without any valid position get all-zero weights (not NaN)."""
    logits = logits.float().masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    return torch.nan_to_num(weights, nan=0.0)


def fine_grained_similarity(
    t_emb: torch.Tensor,
    t_weight: torch.Tensor,
    t_mask: torch.Tensor,
    x_emb: torch.Tensor,
    x_weight: torch.Tensor,
    x_mask: torch.Tensor,
) -> torch.Tensor:
    """The paper's Eq. 3, s(T, X) for every pair: [Nt, Nx].

    Each text token takes its best-matching valid frame/slice (and vice versa); these maxima are
    averaged with learned softmax weights over valid positions, then the two directions are averaged.
    Invalid positions never win a max (filled with -inf, unlike the official code's zero fill).
    """
    wt = masked_softmax(t_weight, t_mask)  # [Nt, Lt]
    wx = masked_softmax(x_weight, x_mask)  # [Nx, Lx]
    dots = torch.einsum("ald,bmd->ablm", t_emb, x_emb).float()  # [Nt, Nx, Lt, Lx]
    neg = torch.finfo(dots.dtype).min
    t2x = dots.masked_fill(~x_mask[None, :, None, :], neg).amax(dim=3)  # [Nt, Nx, Lt]
    t2x = torch.where(t_mask[:, None, :], t2x, 0.0)
    x2t = dots.masked_fill(~t_mask[:, None, :, None], neg).amax(dim=2)  # [Nt, Nx, Lx]
    x2t = torch.where(x_mask[None, :, :], x2t, 0.0)
    t2x = (t2x * wt[:, None, :]).sum(-1)
    x2t = (x2t * wx[None, :, :]).sum(-1)
    return (t2x + x2t) / 2


def media_view(features: dict[str, torch.Tensor], modality: str) -> tuple[torch.Tensor, ...]:
    """(emb, weight, mask) of modality "v", "a" or "av" (concatenated along the sequence)."""
    if modality not in MEDIA_PARTS:
        raise ValueError(f"modality must be 'v', 'a' or 'av', got {modality!r}")
    missing = [f"{m}_emb" for m in MEDIA_PARTS[modality] if f"{m}_emb" not in features]
    if missing:
        raise KeyError(f"features for modality {modality!r} lack {missing}")
    parts = [tuple(features[f"{m}_{k}"] for k in ("emb", "weight", "mask")) for m in MEDIA_PARTS[modality]]
    return tuple(torch.cat(p, dim=1) for p in zip(*parts, strict=True))


def text_view(features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return features["t_emb"], features["t_weight"], features["t_mask"]


# ----------------------------------------------------------------------------------------------- MGC
def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    cfg: TextCfg,
    prob: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MGC masking (official VALOR TokenMasker): each non-[CLS], non-padding token is chosen with `prob`,
    at least one per caption; chosen tokens become [MASK] (80%), a random word (10%) or stay (10%).

    [SEP] can be chosen, as in the official code: it is the stop signal generation must learn to emit.
    Returns (masked input ids, labels with the original id at chosen positions and -100 elsewhere).
    """
    device = generator.device if generator is not None else input_ids.device

    def rand() -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator, device=device).to(input_ids.device)

    eligible = attention_mask.bool() & (input_ids != cfg.pad_token_id) & (input_ids != cfg.cls_token_id)
    chosen = (rand() < prob) & eligible
    need = ~chosen.any(dim=1) & eligible.any(dim=1)
    pick = rand().masked_fill(~eligible, -1.0).argmax(dim=1)
    chosen[need, pick[need]] = True
    action = rand()
    random_ids = torch.randint(
        cfg.first_word_id, cfg.vocab_size, input_ids.shape, generator=generator, device=device
    ).to(input_ids.device)
    masked = input_ids.clone()
    masked[chosen & (action < 0.8)] = cfg.mask_token_id
    use_random = chosen & (action >= 0.8) & (action < 0.9)
    masked[use_random] = random_ids[use_random]
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    return masked, labels


# ----------------------------------------------------------------------------------- distributed
def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_features(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All ranks' `x` concatenated along dim 0, the local part keeping its gradient (open_clip style).

    Ranks may differ in batch size (dim 0) and sequence length (dim 1): parts are zero-padded on dim 1
    (zero masks mark the padding invalid). Returns (gathered, offset of the local rows).
    """
    rank, world = _world()
    if world == 1:
        return x, 0
    shape = torch.tensor(list(x.shape[:2]) if x.dim() > 1 else [x.shape[0], 0], device=x.device)
    shapes = [torch.zeros_like(shape) for _ in range(world)]
    dist.all_gather(shapes, shape)
    rows = [int(s[0]) for s in shapes]
    max_rows, max_len = max(rows), max(int(s[1]) for s in shapes)
    padded = _pad_to(x, max_rows, max_len)
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.detach().contiguous())
    parts = [p[:n] for p, n in zip(parts, rows, strict=True)]
    parts[rank] = _pad_to(x, rows[rank], max_len)
    return torch.cat(parts, dim=0), sum(rows[:rank])


def _pad_to(x: torch.Tensor, rows: int, length: int) -> torch.Tensor:
    pad = [0, 0] * (x.dim() - 2) + [0, length - x.shape[1]] if x.dim() > 1 else []
    pad += [0, rows - x.shape[0]]
    return F.pad(x, pad) if any(pad) else x


def _gather_view(view: tuple[torch.Tensor, ...]) -> tuple[tuple[torch.Tensor, ...], int]:
    emb, weight, mask = view
    g_emb, offset = gather_features(emb)
    g_weight, _ = gather_features(weight)
    g_mask, _ = gather_features(mask.to(emb.dtype))
    return (g_emb, g_weight, g_mask > 0.5), offset


# ----------------------------------------------------------------------------------------------- MGA
def mga_loss(
    text: tuple[torch.Tensor, ...],
    media: tuple[torch.Tensor, ...],
    temperature: torch.Tensor,
    gathered: tuple[tuple[tuple[torch.Tensor, ...], int], tuple[tuple[torch.Tensor, ...], int]] | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE on s(T, X) / temperature; under DDP, negatives come from every rank.

    Each rank scores its own texts against all media and its own media against all texts, so the
    cost is O(local x global); the row-weighted mean over ranks equals the single-process loss.
    `gathered` ((all_text, text_offset), (all_media, media_offset)) skips the gathers when the caller
    already holds them.
    """
    n_t, n_x = text[0].shape[0], media[0].shape[0]
    if n_t != n_x:
        raise ValueError(f"MGA needs paired batches, got {n_t} texts and {n_x} media")
    (all_text, t_off), (all_media, x_off) = gathered or (_gather_view(text), _gather_view(media))
    t2x = fine_grained_similarity(*text, *all_media) / temperature  # [n, N]
    x2t = fine_grained_similarity(*all_text, *media).t() / temperature  # [n, N]
    target_t = torch.arange(n_t, device=t2x.device) + x_off
    target_x = torch.arange(n_x, device=x2t.device) + t_off
    return (F.cross_entropy(t2x, target_t) + F.cross_entropy(x2t, target_x)) / 2


def _gather_all(outputs: dict[str, torch.Tensor], groups: tuple[str, ...]) -> dict[str, tuple]:
    """Gather text and each needed media modality once per step; AV is assembled from gathered V and A."""
    views = {"t": _gather_view(text_view(outputs))}
    for m in sorted({m for g in groups for m in MEDIA_PARTS[g[1:]]}):
        views[m] = _gather_view(media_view(outputs, m))
    for g in groups:
        if g[1:] == "av":
            parts = [views[m][0] for m in MEDIA_PARTS["av"]]
            views["av"] = (tuple(torch.cat(p, dim=1) for p in zip(*parts, strict=True)), views["v"][1])
    return views


class ValorLoss(nn.Module):
    """Total = mga_ratio x mean_g MGA_g + mean_g MGC_g over the configured groups (tv, ta, tav).

    Keys starting with ``loss_`` are weighted and meant to be summed; the rest are detached diagnostics.
    """

    def __init__(self, cfg: ValorConfig):
        super().__init__()
        self.groups = tuple(cfg.groups)
        self.ratio = cfg.mga_ratio
        self.t_min, self.t_max = cfg.min_temperature, cfg.max_temperature

    def forward(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        temperature = outputs["temperature"].float().clamp(self.t_min, self.t_max)
        text = text_view(outputs)
        gathered = _gather_all(outputs, self.groups)
        terms: dict[str, torch.Tensor] = {}
        mga, mgc = [], []
        for group in self.groups:
            pair = (gathered["t"], gathered[group[1:]])
            mga.append(mga_loss(text, media_view(outputs, group[1:]), temperature, pair))
            logits, labels = outputs[f"mgc_logits_{group}"], outputs[f"mgc_labels_{group}"]
            mgc.append(F.cross_entropy(logits.float(), labels, ignore_index=IGNORE))
            terms[f"mga_{group}"] = mga[-1].detach()
            terms[f"mgc_{group}"] = mgc[-1].detach()
        terms["loss_mga"] = self.ratio * torch.stack(mga).mean()
        terms["loss_mgc"] = torch.stack(mgc).mean()
        terms["temperature"] = temperature.detach()
        return terms
