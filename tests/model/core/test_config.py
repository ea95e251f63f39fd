"""Configs: registry, JSON round trip, overrides, and the base/large architectures (built on meta, no weights)."""

from __future__ import annotations

import json

import pytest
import torch

from valor_model.config import ValorConfig
from valor_model.factory import create_model, get_config, list_configs


def test_registry_lists_shipped_configs():
    assert {"tiny", "base", "large"} <= set(list_configs())


@pytest.mark.parametrize("name", ["tiny", "base", "large"])
def test_json_round_trip(name, tmp_path):
    cfg = get_config(name)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert ValorConfig.from_dict(d) == cfg
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(d))
    assert get_config(str(path)) == cfg


def test_tiny_matches_the_api_contract():
    cfg = get_config("tiny")
    assert (cfg.num_frames, cfg.image_size, cfg.audio_slices) == (4, 64, 2)
    assert (cfg.audio.slice_frames, cfg.audio.num_mel_bins) == (512, 64)
    assert cfg.groups == ("tv", "ta", "tav") and cfg.mga_ratio == 1.5 and cfg.max_text_len == 40
    assert cfg.text.weights is None and cfg.text.tokenizer == "minilm"


def test_unknown_keys_and_bad_groups_fail_loudly():
    with pytest.raises(ValueError, match="hidden_sise"):
        get_config("tiny", text={"hidden_sise": 3})
    with pytest.raises(ValueError, match="nonsense"):
        get_config("tiny", nonsense=1)
    with pytest.raises(ValueError, match="groups"):
        get_config("tiny", groups=["tv", "tx"])
    with pytest.raises(ValueError, match="unknown model config"):
        get_config("no-such-config")


def test_overrides_merge_nested_and_weight_shortcuts():
    cfg = get_config("tiny", text={"dropout": 0.0}, groups=("tv",), text_weights="minilm")
    assert cfg.text.dropout == 0.0 and cfg.text.hidden_size == 128  # other text fields kept
    assert cfg.groups == ("tv",) and cfg.text.weights == "minilm"
    base = get_config("base", random_init=True)
    assert (base.text.weights, base.vision.weights, base.audio.weights) == (None, None, None)
    assert get_config("base").vision.weights == "openai/clip-vit-base-patch16"
    assert get_config("large").vision.weights == "openai/clip-vit-large-patch14"
    assert get_config("base").audio.weights == "MIT/ast-finetuned-audioset-10-10-0.4593"


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "name, vision_hidden, vision_layers, patch, vision_params",
    [("base", 768, 12, 16, 85.8e6), ("large", 1024, 24, 14, 303.2e6)],
)
def test_base_and_large_architectures_without_weights(name, vision_hidden, vision_layers, patch, vision_params):
    with torch.device("meta"):  # architecture only: no memory, no download
        model = create_model(name, random_init=True)
    text = model.text.encoder.config
    assert (text.hidden_size, text.num_hidden_layers, text.vocab_size) == (768, 12, 30522)
    clip = model.vision.clip.config
    assert (clip.hidden_size, clip.num_hidden_layers, clip.patch_size, clip.image_size) == (
        vision_hidden, vision_layers, patch, 224)
    ast = model.audio.ast.config
    assert (ast.hidden_size, ast.num_mel_bins, ast.max_length) == (768, 64, 512)
    # AST grid for 64 x 512 with stride 10: 5 x 50 patches + CLS + distillation token
    assert model.audio.ast.embeddings.position_embeddings.shape == (1, 252, 768)
    assert _count(model.vision) == pytest.approx(vision_params, rel=0.01)
    assert _count(model.text) == pytest.approx(137.9e6, rel=0.01)
    assert model.proj["t"].out_features == 512
