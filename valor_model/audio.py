"""Audio tower: AST over fbank slices (512 frames x 64 mel bins, ~5.12 s each); a clip is the sequence of
per-slice CLS features.

Pretrained AST checkpoints (e.g. MIT/ast-finetuned-audioset-10-10-0.4593) were trained on 128 mel bins x
1024 frames. Like the official VALOR, which feeds 64-bin slices to AST weights, we keep every weight as is
(the 16x16 patch projection does not depend on the input size) and bilinearly interpolate the patch
position-embedding grid from the checkpoint's (freq x time) grid to ours; the CLS and distillation
positions are copied unchanged.
"""

from __future__ import annotations

import copy
import logging

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ASTConfig, ASTModel

from valor_model.config import AudioCfg
from valor_model.hub import load_pretrained

log = logging.getLogger(__name__)


def ast_config(cfg: AudioCfg) -> ASTConfig:
    return ASTConfig(
        num_mel_bins=cfg.num_mel_bins,
        max_length=cfg.slice_frames,
        patch_size=cfg.patch_size,
        frequency_stride=cfg.frequency_stride,
        time_stride=cfg.time_stride,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
    )


def patch_grid(config: ASTConfig) -> tuple[int, int]:
    """(frequency, time) size of AST's patch grid; patches are flattened frequency-major."""
    f = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
    t = (config.max_length - config.patch_size) // config.time_stride + 1
    return f, t


def interpolate_positions(pos: torch.Tensor, src: tuple[int, int], dst: tuple[int, int]) -> torch.Tensor:
    """Resize AST position embeddings [1, 2 + f*t, D] from grid src to grid dst (bilinear)."""
    if src == dst:
        return pos
    head, grid = pos[:, :2], pos[:, 2:]
    d = grid.shape[-1]
    grid = grid.reshape(1, src[0], src[1], d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=dst, mode="bilinear", align_corners=False).to(pos.dtype)
    grid = grid.permute(0, 2, 3, 1).reshape(1, dst[0] * dst[1], d)
    return torch.cat([head, grid], dim=1)


def load_ast(weights: str, cfg: AudioCfg) -> ASTModel:
    """A pretrained AST adapted to our (num_mel_bins, slice_frames) input; updates cfg to the checkpoint."""
    source = load_pretrained(ASTModel, weights, "audio")
    target_cfg = copy.deepcopy(source.config)
    target_cfg.num_mel_bins = cfg.num_mel_bins
    target_cfg.max_length = cfg.slice_frames
    target = ASTModel(target_cfg)
    state = source.state_dict()
    key = "embeddings.position_embeddings"
    state[key] = interpolate_positions(state[key], patch_grid(source.config), patch_grid(target_cfg))
    target.load_state_dict(state)
    _sync_cfg(cfg, target_cfg)
    log.info(
        "loaded audio weights from %s; positions %s -> %s",
        weights,
        patch_grid(source.config),
        patch_grid(target_cfg),
    )
    return target


class AudioTower(nn.Module):
    """Fbank slices [B, S, frames, mel] -> slice features [B, S, D] (CLS + slice embedding)."""

    def __init__(self, cfg: AudioCfg):
        super().__init__()
        self.ast = load_ast(cfg.weights, cfg) if cfg.weights else ASTModel(ast_config(cfg))
        self.width = self.ast.config.hidden_size
        self.temporal = nn.Parameter(0.02 * torch.randn(cfg.max_slices, self.width))
        self.input_shape = (self.ast.config.max_length, self.ast.config.num_mel_bins)

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        if fbank.dim() != 4 or tuple(fbank.shape[2:]) != self.input_shape:
            raise ValueError(f"fbank must be [B, S, {self.input_shape[0]}, {self.input_shape[1]}], "
                             f"got shape {tuple(fbank.shape)}")
        b, s = fbank.shape[:2]
        if s > self.temporal.shape[0]:
            raise ValueError(f"{s} slices exceed the {self.temporal.shape[0]} slice embeddings")
        cls = self.ast(input_values=fbank.flatten(0, 1)).last_hidden_state[:, 0]
        return cls.view(b, s, -1) + self.temporal[:s]


def _sync_cfg(cfg: AudioCfg, hf: ASTConfig) -> None:
    cfg.patch_size = hf.patch_size
    cfg.frequency_stride = hf.frequency_stride
    cfg.time_stride = hf.time_stride
    cfg.hidden_size = hf.hidden_size
    cfg.num_layers = hf.num_hidden_layers
    cfg.num_heads = hf.num_attention_heads
    cfg.intermediate_size = hf.intermediate_size
