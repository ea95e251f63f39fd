"""Vision tower: CLIP ViT applied to every frame; a clip is the sequence of per-frame CLS features."""

from __future__ import annotations

import logging

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel

from valor_model.config import VisionCfg
from valor_model.hub import load_pretrained

log = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_vision_config(cfg: VisionCfg) -> CLIPVisionConfig:
    return CLIPVisionConfig(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
    )


class VisionTower(nn.Module):
    """Frames [B, F, 3, H, W] -> frame features [B, F, D] (post-LN CLS + temporal embedding)."""

    def __init__(self, cfg: VisionCfg):
        super().__init__()
        if cfg.weights:
            self.clip = load_pretrained(CLIPVisionModel, cfg.weights, "vision")
            _sync_cfg(cfg, self.clip.config)
            log.info("loaded vision weights from %s", cfg.weights)
        else:
            self.clip = CLIPVisionModel(clip_vision_config(cfg))
        self.width = self.clip.config.hidden_size
        self.temporal = nn.Parameter(0.02 * torch.randn(cfg.max_frames, self.width))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 5:
            raise ValueError(f"frames must be [B, F, 3, H, W], got shape {tuple(frames.shape)}")
        b, f = frames.shape[:2]
        if f > self.temporal.shape[0]:
            raise ValueError(f"{f} frames exceed the {self.temporal.shape[0]} temporal embeddings")
        cls = self.clip(pixel_values=frames.flatten(0, 1)).pooler_output
        return cls.view(b, f, -1) + self.temporal[:f]


def _sync_cfg(cfg: VisionCfg, hf: CLIPVisionConfig) -> None:
    cfg.image_size = hf.image_size
    cfg.patch_size = hf.patch_size
    cfg.hidden_size = hf.hidden_size
    cfg.num_layers = hf.num_hidden_layers
    cfg.num_heads = hf.num_attention_heads
    cfg.intermediate_size = hf.intermediate_size
