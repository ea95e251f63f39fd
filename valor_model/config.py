"""Model configuration: one typed dataclass per tower plus the top-level ValorConfig (open_clip style).

Architecture lives in JSON files (``valor_model/configs/*.json``); weights are kept apart in the
``weights`` field of each tower (a ``from_pretrained`` name or a local directory, or ``None`` for random
init), so a checkpoint can always be rebuilt from its saved config without fetching anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("tv", "ta", "tav")


@dataclass
class TextCfg:
    """BERT text encoder; the multimodal decoder is the same BERT plus cross-attention."""

    weights: str | None = None  # from_pretrained name / local dir, or "minilm" (packaged MiniLM)
    tokenizer: str = "bert-base-uncased"  # from_pretrained name / local dir, or "minilm"
    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    dropout: float = 0.1
    pad_token_id: int = 0
    unk_token_id: int = 100
    cls_token_id: int = 101
    sep_token_id: int = 102
    mask_token_id: int = 103
    first_word_id: int = 999  # random replacement tokens are drawn from [first_word_id, vocab_size)


@dataclass
class VisionCfg:
    """CLIP ViT applied per frame; CLS per frame plus a temporal embedding."""

    weights: str | None = None
    image_size: int = 224
    patch_size: int = 16
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_frames: int = 32


@dataclass
class AudioCfg:
    """AST over fbank slices (time x mel); CLS per slice plus a slice embedding."""

    weights: str | None = None
    num_mel_bins: int = 64
    slice_frames: int = 512
    patch_size: int = 16
    frequency_stride: int = 10
    time_stride: int = 10
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_slices: int = 32


@dataclass
class ValorConfig:
    """Everything needed to rebuild a VALOR model; JSON round trip through to_dict/from_dict."""

    name: str = "custom"
    text: TextCfg = field(default_factory=TextCfg)
    vision: VisionCfg = field(default_factory=VisionCfg)
    audio: AudioCfg = field(default_factory=AudioCfg)
    embed_dim: int = 512  # common MGA space
    num_frames: int = 8
    audio_slices: int = 2
    max_text_len: int = 40
    groups: tuple[str, ...] = GROUPS
    mga_ratio: float = 1.5
    mask_prob: float = 0.6
    init_temperature: float = 0.07
    min_temperature: float = 0.001
    max_temperature: float = 0.5
    beam_size: int = 3
    max_gen_len: int = 30

    def __post_init__(self) -> None:
        self.groups = tuple(self.groups)
        bad = [g for g in self.groups if g not in GROUPS]
        if bad or not self.groups:
            raise ValueError(f"groups must be a non-empty subset of {GROUPS}, got {list(self.groups)}")
        if self.num_frames > self.vision.max_frames:
            raise ValueError(f"num_frames={self.num_frames} exceeds vision.max_frames={self.vision.max_frames}")
        if self.audio_slices > self.audio.max_slices:
            raise ValueError(f"audio_slices={self.audio_slices} exceeds audio.max_slices={self.audio.max_slices}")

    @property
    def image_size(self) -> int:
        return self.vision.image_size

    @property
    def modalities(self) -> set[str]:
        """Media towers the configured groups need ("v", "a")."""
        return {m for g in self.groups for m in g[1:]}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["groups"] = list(self.groups)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValorConfig:
        """Build from a (possibly partial) dict; unknown keys fail loudly, naming the key."""
        d = dict(d)
        towers = {"text": TextCfg, "vision": VisionCfg, "audio": AudioCfg}
        kwargs: dict[str, Any] = {}
        for key, sub_cls in towers.items():
            if key in d:
                kwargs[key] = _sub_from_dict(sub_cls, d.pop(key), key)
        _check_keys(cls, d, "config")
        kwargs.update(d)
        return cls(**kwargs)


def _check_keys(cls: type, d: dict[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {where} key(s) {unknown}; known: {sorted(known)}")


def _sub_from_dict(sub_cls: type, value: Any, where: str) -> Any:
    if isinstance(value, sub_cls):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"config key {where!r} must be a mapping, got {type(value).__name__}")
    _check_keys(sub_cls, value, where)
    return sub_cls(**value)


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: nested tower dicts are updated key by key, other values replaced."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out
