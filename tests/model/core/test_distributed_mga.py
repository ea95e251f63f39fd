"""MGA under torch.distributed: 2 gloo processes, features gathered from both ranks (local part with grad).

With unequal batches and text lengths across ranks, the row-weighted mean of the rank losses must equal
the single-process loss on the concatenated batch, for mga_loss and for ValorLoss's tv/ta/tav groups.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import torch

from valor_model.config import ValorConfig
from valor_model.losses import ValorLoss, mga_loss

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    from valor_model.config import ValorConfig
    from valor_model.losses import ValorLoss, mga_loss

    rank, out = int(sys.argv[1]), sys.argv[2]
    dist.init_process_group("gloo", rank=rank, world_size=2)
    data = torch.load(sys.argv[3])
    text = [t.clone().requires_grad_(t.is_floating_point()) for t in data["text"][rank]]
    media = [t.clone().requires_grad_(t.is_floating_point()) for t in data["media"][rank]]
    loss = mga_loss(tuple(text), tuple(media), torch.tensor(0.07))
    loss.backward()
    ok = all(t.grad is not None and torch.isfinite(t.grad).all() for t in text[:2] + media[:2])
    terms = ValorLoss(ValorConfig())(data["outputs"][rank])
    json.dump({"loss": loss.item(), "rows": text[0].shape[0], "grads": ok, "valor": terms["loss_mga"].item()},
              open(out, "w"))
    dist.destroy_process_group()
    """
)


def _features(n, length, g):
    emb = torch.nn.functional.normalize(torch.randn(n, length, 8, generator=g), dim=-1)
    mask = torch.ones(n, length, dtype=torch.bool)
    mask[0, length // 2 :] = False
    return emb, torch.randn(n, length, generator=g), mask


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_rank_loss_equals_single_process(tmp_path):
    g = torch.Generator().manual_seed(0)
    text = [_features(3, 6, g), _features(2, 4, g)]  # ranks differ in batch size and text length
    media = [_features(3, 5, g), _features(2, 5, g)]
    audio = [_features(3, 2, g), _features(2, 2, g)]
    outputs = [_outputs(text[r], media[r], audio[r]) for r in range(2)]
    torch.save({"text": text, "media": media, "outputs": outputs}, tmp_path / "data.pt")
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(tmp_path / "worker.py"), str(r), str(tmp_path / f"{r}.json"),
                          str(tmp_path / "data.pt")], env=env, stderr=subprocess.PIPE, text=True)
        for r in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    results = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    assert all(r["grads"] for r in results)

    def cat(parts):
        length = max(p[0].shape[1] for p in parts)
        padded = [[torch.nn.functional.pad(t, [0, 0] * (t.dim() - 2) + [0, length - t.shape[1]]) for t in p]
                  for p in parts]
        return tuple(torch.cat(ts) for ts in zip(*padded, strict=True))

    rows = sum(r["rows"] for r in results)
    single = mga_loss(cat(text), cat(media), torch.tensor(0.07)).item()
    weighted = sum(r["loss"] * r["rows"] for r in results) / rows
    assert abs(weighted - single) < 1e-5, (weighted, single)
    single = ValorLoss(ValorConfig())(_outputs(cat(text), cat(media), cat(audio)))["loss_mga"].item()
    weighted = sum(r["valor"] * r["rows"] for r in results) / rows
    assert abs(weighted - single) < 1e-5, (weighted, single)


def _outputs(text, video, audio):
    """A forward-output dict as ValorModel returns it (MGC terms are dummies: only MGA is compared)."""
    out = {f"{m}_{k}": t for m, feats in (("t", text), ("v", video), ("a", audio))
           for k, t in zip(("emb", "weight", "mask"), feats, strict=True)}
    for g in ("tv", "ta", "tav"):
        out[f"mgc_logits_{g}"] = torch.zeros(1, 5)
        out[f"mgc_labels_{g}"] = torch.zeros(1, dtype=torch.long)
    out["temperature"] = torch.tensor(0.07)
    return out
