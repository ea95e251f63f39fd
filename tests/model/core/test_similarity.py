"""MGA's fine-grained similarity (paper Eq. 3) against a slow loop reference, and the feature-dict helpers."""

from __future__ import annotations

import math

import torch

from valor_model.losses import fine_grained_similarity, media_view
from valor_model.model import cat_features


def slow_similarity(t_emb, t_w, t_m, x_emb, x_w, x_m):
    """Eq. 3 written pair by pair, token by token."""
    out = torch.zeros(t_emb.shape[0], x_emb.shape[0], dtype=torch.float64)
    for a in range(t_emb.shape[0]):
        ti = [i for i in range(t_emb.shape[1]) if t_m[a, i]]
        wt = [math.exp(float(t_w[a, i])) for i in ti]
        wt = [w / sum(wt) for w in wt]
        for b in range(x_emb.shape[0]):
            xj = [j for j in range(x_emb.shape[1]) if x_m[b, j]]
            wx = [math.exp(float(x_w[b, j])) for j in xj]
            wx = [w / sum(wx) for w in wx]
            dot = [[float(t_emb[a, i] @ x_emb[b, j]) for j in range(x_emb.shape[1])] for i in range(t_emb.shape[1])]
            t2x = sum(w * max(dot[i][j] for j in xj) for w, i in zip(wt, ti, strict=True))
            x2t = sum(w * max(dot[i][j] for i in ti) for w, j in zip(wx, xj, strict=True))
            out[a, b] = (t2x + x2t) / 2
    return out


def _random_features(n, length, dim, g, min_valid=1):
    emb = torch.nn.functional.normalize(torch.randn(n, length, dim, generator=g), dim=-1)
    weight = 2 * torch.randn(n, length, generator=g)
    valid = torch.randint(min_valid, length + 1, (n,), generator=g)
    mask = torch.arange(length)[None] < valid[:, None]
    return emb, weight, mask


def test_vectorised_matches_slow_reference_with_masks():
    g = torch.Generator().manual_seed(0)
    text = _random_features(5, 7, 8, g)
    media = _random_features(4, 6, 8, g)
    # masked positions hold garbage that must not leak into the result
    text[0][~text[2]] = 100.0
    media[0][~media[2]] = -100.0
    got = fine_grained_similarity(*text, *media)
    torch.testing.assert_close(got.double(), slow_similarity(*text, *media), atol=1e-5, rtol=1e-5)


def test_non_contiguous_media_mask():
    g = torch.Generator().manual_seed(1)
    text = _random_features(3, 5, 4, g)
    emb, weight, _ = _random_features(3, 6, 4, g)
    mask = torch.tensor([[1, 0, 1, 0, 1, 1], [0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    got = fine_grained_similarity(*text, emb, weight, mask)
    torch.testing.assert_close(got.double(), slow_similarity(*text, emb, weight, mask), atol=1e-5, rtol=1e-5)


def test_identical_single_token_gives_cosine_one():
    e = torch.nn.functional.normalize(torch.randn(1, 1, 8), dim=-1)
    w, m = torch.zeros(1, 1), torch.ones(1, 1, dtype=torch.bool)
    assert torch.allclose(fine_grained_similarity(e, w, m, e, w, m), torch.ones(1, 1))


def test_av_view_is_video_then_audio():
    g = torch.Generator().manual_seed(2)
    feats = {}
    for m, n in (("v", 4), ("a", 2)):
        emb, weight, mask = _random_features(3, n, 8, g)
        feats.update({f"{m}_emb": emb, f"{m}_weight": weight, f"{m}_mask": mask})
    emb, weight, mask = media_view(feats, "av")
    assert emb.shape == (3, 6, 8)
    torch.testing.assert_close(emb[:, :4], feats["v_emb"])
    torch.testing.assert_close(weight[:, 4:], feats["a_weight"])
    assert torch.equal(mask[:, 4:], feats["a_mask"])


def test_cat_and_slice_features_round_trip_with_padding():
    g = torch.Generator().manual_seed(3)
    a = dict(zip(("t_emb", "t_weight", "t_mask"), _random_features(2, 5, 4, g), strict=True))
    b = dict(zip(("t_emb", "t_weight", "t_mask"), _random_features(3, 7, 4, g), strict=True))
    both = cat_features([a, b])
    assert both["t_emb"].shape == (5, 7, 4) and not both["t_mask"][:2, 5:].any()
    back = {k: v[:2] for k, v in both.items()}
    media = _random_features(4, 3, 4, g)
    torch.testing.assert_close(
        fine_grained_similarity(back["t_emb"], back["t_weight"], back["t_mask"], *media),
        fine_grained_similarity(a["t_emb"], a["t_weight"], a["t_mask"], *media),
    )


def test_model_similarity_chunking_is_exact(tiny, batch):
    with torch.no_grad():
        text = tiny.encode_text(batch["input_ids"], batch["attention_mask"])
        media = tiny.encode_media(batch["frames"], batch["fbank"], "av")
    whole = tiny.similarity(text, media)
    chunked = tiny.similarity(text, media, chunk_elements=1)  # one text per chunk
    assert whole.shape == (4, 4)
    torch.testing.assert_close(whole, chunked)
    v_only = tiny.similarity(text, {k: v[:2] for k, v in media.items() if k[0] == "v"})
    assert v_only.shape == (4, 2)
