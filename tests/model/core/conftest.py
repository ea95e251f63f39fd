"""Fixtures for the model-core tests: one tiny model per session (building it costs seconds)."""

from __future__ import annotations

import pytest
import torch

from valor_model.factory import create_model, get_tokenizer

CAPTIONS = [
    "a red square moves left while a low beep repeats fast",
    "a blue circle spins",
    "a man plays the guitar and sings loudly in a small room",
    "birds chirp",
]


@pytest.fixture(scope="session")
def tiny():
    torch.manual_seed(0)
    model = create_model("tiny")
    model.eval()
    return model


@pytest.fixture(scope="session")
def tokenizer(tiny):
    return get_tokenizer(tiny.cfg)


def make_batch(model, tokenizer, captions=CAPTIONS, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random audiovisual batch with real tokenized captions, shaped as the loader delivers it."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    enc = tokenizer(captions, padding="max_length", truncation=True, max_length=cfg.max_text_len,
                    return_tensors="pt")
    b = len(captions)
    return {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "frames": torch.randn(b, cfg.num_frames, 3, cfg.image_size, cfg.image_size, generator=g),
        "fbank": torch.randn(b, cfg.audio_slices, cfg.audio.slice_frames, cfg.audio.num_mel_bins, generator=g),
    }


@pytest.fixture()
def batch(tiny, tokenizer):
    return make_batch(tiny, tokenizer)


@pytest.fixture(scope="session")
def batch_factory(tokenizer):
    """make_batch(model, captions=..., seed=...) for tests that need more than the default batch."""
    return lambda model, captions=CAPTIONS, seed=0: make_batch(model, tokenizer, captions, seed)
