"""torch.distributed set-up from torchrun's environment: gloo on CPU, NCCL on CUDA.

One process per device; `torchrun --nproc_per_node N` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT. Without them everything runs as a single process and the helpers below are no-ops, so the
trainer has one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``; ``cuda`` gets the local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: CUDA is not available on this machine")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment (if any) and pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local_rank, dev)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is true on at least one rank (e.g. "my data ran out": all ranks stop together,
    so DDP never waits on a rank that left the epoch)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (on every rank), e.g. the RNG states a checkpoint must hold per rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def parameter_fingerprint(model: torch.nn.Module) -> list[float]:
    """Cheap summary of all parameters (sum, sum of squares, a position-weighted sum) in float64."""
    total, squares, weighted = 0.0, 0.0, 0.0
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            x = p.detach().double()
            total += float(x.sum())
            squares += float((x * x).sum())
            weighted += float(x.sum()) * (i + 1)
    return [total, squares, weighted]


def ranks_in_sync(model: torch.nn.Module, rtol: float = 0.0) -> bool:
    """Whether every rank holds the same parameters (DDP must keep them identical). Gathers the
    fingerprints of all ranks; exact equality by default, since DDP averages the same gradients."""
    prints = gather_objects(parameter_fingerprint(model))
    ref = prints[0]
    return all(all(abs(a - b) <= rtol * max(1.0, abs(b)) for a, b in zip(p, ref, strict=True)) for p in prints)
