"""The trainer behind `valor-model train`: AdamW + warm-up/linear decay, accumulation, clipping, bf16 on CUDA,
DDP through torchrun, optional torch.compile, atomic checkpoints with exact resume, a JSONL metrics log.

The model returns a dict, ValorLoss returns named terms, and the trainer sums the ``loss_*`` ones (open_clip's
contract). Exact resume restores model, optimiser, scheduler, step, the python/numpy/torch RNG states of
every rank and the data position of every rank (see valor_model.data: deterministic per-epoch order, then
the consumed samples are skipped without decoding); the next loss after a resume is the one an
uninterrupted run computes. Everything that can be random in the trainer uses the global RNGs (dropout,
MGC masking) or generators of its own (DataLoader seeds, validation masking), so that checkpointed state
is the whole state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.flop_counter import FlopCounterMode

from valor_data.atomic import atomic_path, atomic_write_text
from valor_data.progress import progress_bar
from valor_model import distributed as vdist
from valor_model.data import Position, ValorLoader, count_samples, expand_shards, stream_config_for
from valor_model.factory import create_model, get_tokenizer
from valor_model.losses import ValorLoss

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "valor-model-checkpoint/1"
# Dense bf16 tensor-core peak (TFLOP/s) by device name, for MFU when --peak-tflops is not given.
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0}


class TrainError(RuntimeError):
    """A problem with the run's inputs or output directory; one line for the user."""


@dataclass
class TrainOptions:
    """Everything `valor-model train` takes; saved as OUT/train_options.json."""

    config: str
    train_shards: str
    out: str
    val_shards: str | None = None
    batch_size: int = 32
    lr: float = 1e-4
    warmup_steps: int | None = None  # default: 10% of the total steps
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    accum_steps: int = 1
    max_steps: int | None = None
    epochs: int | None = None
    stop_after: int | None = None  # stop this session after N more steps (job time limits); --resume continues
    seed: int = 0
    groups: tuple[str, ...] | None = None
    num_workers: int = 2
    device: str = "auto"
    compile: bool = False
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    val_every: int | None = None
    peak_tflops: float | None = None
    shuffle_buffer: int = 1000
    resume: bool = False
    text_weights: str | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_size", "accum_steps", "checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise TrainError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainError(f"--max-steps must be >= 1, got {self.max_steps}")
        if self.epochs is not None and self.epochs < 1:
            raise TrainError(f"--epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise TrainError(f"--lr must be > 0, got {self.lr}")
        if self.num_workers < 0:
            raise TrainError(f"--num-workers must be >= 0, got {self.num_workers}")


# --------------------------------------------------------------------------------------------------
# Optimiser and schedule
# --------------------------------------------------------------------------------------------------
def no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases, norm weights and other vectors/scalars (temperature, type embeddings) get no weight decay."""
    lowered = name.lower()
    return param.ndim < 2 or name.endswith("bias") or "layernorm" in lowered or "layer_norm" in lowered or "norm." in lowered


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float]) -> torch.optim.AdamW:
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if no_decay(name, p) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8)


def warmup_linear(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to the peak over ``warmup`` steps, then linear decay to 0 at ``total``."""
    warmup = max(0, min(warmup, total - 1))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save whole or not at all: a crash never leaves a half-written checkpoint under the final name."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def latest_checkpoint(out: str | Path) -> Path | None:
    """The checkpoint named by OUT/checkpoints/latest (written after the checkpoint is in place)."""
    pointer = Path(out) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if path.is_file() else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory (its latest checkpoint)."""
    p = Path(path)
    if p.is_dir():
        found = latest_checkpoint(p.parent if p.name == "checkpoints" else p)
        if found is None:
            raise FileNotFoundError(f"{p}: run directory without a checkpoint (no checkpoints/latest)")
        return found
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    return p


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    p = resolve_checkpoint(path)
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f"{p}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{p}: not a valor-model checkpoint")
    return ckpt


# --------------------------------------------------------------------------------------------------
# FLOPs and MFU
# --------------------------------------------------------------------------------------------------
def measure_flops_per_sample(model: nn.Module, loss_fn: nn.Module, batch: dict[str, Any]) -> float:
    """Model FLOPs of one training step (forward + backward) per sample, counted by torch's
    FlopCounterMode on a real batch (matmuls, convolutions, attention). RNG and gradients are left as
    they were."""
    devices = [batch["input_ids"].device] if batch["input_ids"].is_cuda else []
    with torch.random.fork_rng(devices=devices):
        counter = FlopCounterMode(display=False)
        with counter:
            terms = loss_fn(model(batch))
            sum(v for k, v in terms.items() if k.startswith("loss_")).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch["input_ids"].shape[0]


def peak_flops(device: torch.device, given_tflops: float | None) -> float | None:
    if given_tflops:
        return given_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


# --------------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------------
def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """One training run; ``fit()`` returns the final summary (also the last line of metrics.jsonl)."""

    def __init__(self, opts: TrainOptions, dist: vdist.DistInfo | None = None):
        self.opts = opts
        self.dist = dist or vdist.DistInfo()
        self.out = Path(opts.out)
        self.device = self.dist.device
        self._check_out()
        self.train_shards = expand_shards(opts.train_shards)
        self.val_shards = expand_shards(opts.val_shards) if opts.val_shards else None
        _seed_all(opts.seed)  # same init on every rank (DDP also broadcasts rank 0's parameters)
        self.model = create_model(opts.config, **self._model_overrides()).to(self.device)
        self.cfg = self.model.cfg
        self.tokenizer = get_tokenizer(self.cfg)
        self.loss_fn = ValorLoss(self.cfg)
        _seed_all(opts.seed + 1 + self.dist.rank)  # per-rank stream of dropout/masking randomness
        self.optimizer = build_optimizer(self.model, opts.lr, opts.weight_decay, tuple(opts.betas))
        self.total_steps = self._total_steps()
        warmup = opts.warmup_steps if opts.warmup_steps is not None else max(1, self.total_steps // 10)
        self.scheduler = warmup_linear(self.optimizer, warmup, self.total_steps)
        self.loader = self._make_loader(self.train_shards, train=True)
        self.step, self.epoch = 0, 0
        self._saved_step = -1
        self._ddp_warm = False
        self.resume_position: Position | None = None
        self.peak = peak_flops(self.device, opts.peak_tflops)
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda"
                         else contextlib.nullcontext())
        if opts.resume:
            self._resume()
        self.flops_per_sample = self._measure_flops()  # before DDP: its hooks must see only real steps
        self.train_model: nn.Module = self._wrap(self.model)

    # -- set-up ------------------------------------------------------------------------------------
    def _model_overrides(self) -> dict[str, Any]:
        overrides = dict(self.opts.model_overrides)
        if self.opts.groups:
            overrides["groups"] = list(self.opts.groups)
        if self.opts.text_weights:
            overrides["text_weights"] = self.opts.text_weights
        return overrides

    def _check_out(self) -> None:
        ckpt = latest_checkpoint(self.out)
        if ckpt is not None and not self.opts.resume:
            raise TrainError(f"{self.out} already holds a run (checkpoint {ckpt.name}): pass --resume to continue "
                             "it, or choose another --out")
        if self.opts.resume and ckpt is None:
            raise TrainError(f"--resume: {self.out} holds no checkpoint (checkpoints/latest)")
        if self.dist.is_main:
            (self.out / "checkpoints").mkdir(parents=True, exist_ok=True)
        vdist.barrier()

    def _total_steps(self) -> int:
        o = self.opts
        per_step = o.batch_size * o.accum_steps * self.dist.world_size
        if o.epochs is None and o.max_steps is None:
            raise TrainError("give --max-steps or --epochs")
        total = o.max_steps or math.inf
        if o.epochs is not None:
            n = count_samples(self.train_shards)
            if n == 0 and o.max_steps is None:
                raise TrainError(f"--train-shards {o.train_shards}: cannot count the samples (remote or empty "
                                 "shards): give --max-steps")
            if n:
                total = min(total, max(1, n // per_step) * o.epochs)
        return int(total)

    def _make_loader(self, shards: list[str], train: bool) -> ValorLoader:
        o = self.opts
        need = "".join(sorted(self.cfg.modalities, key="va".index))
        scfg = stream_config_for(self.cfg, o.batch_size, train=train, seed=o.seed, shuffle_buffer=o.shuffle_buffer,
                                 modality=need)
        return ValorLoader(shards, scfg, self.tokenizer, num_workers=o.num_workers, rank=self.dist.rank,
                           world_size=self.dist.world_size, pin_memory=self.device.type == "cuda")

    def _wrap(self, model: nn.Module) -> nn.Module:
        wrapped = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # static graph: the same parameters take part in every step; it handles the towers outside the
            # configured groups (never used) and the temperature, which the model returns as an output
            wrapped = DistributedDataParallel(model, device_ids=ids, static_graph=True)
        if self.opts.compile:
            wrapped = torch.compile(wrapped)
        return wrapped

    # -- checkpoints -------------------------------------------------------------------------------
    def _checkpoint(self) -> Path | None:
        """Gather every rank's RNG state and data position, then rank 0 writes atomically."""
        per_rank = vdist.gather_objects({"rng": rng_state(), "position": self.loader.position.to_dict(),
                                         "epoch": self.epoch})
        path = self.out / "checkpoints" / f"step_{self.step:08d}.pt"
        if self.dist.is_main:
            state = {
                "format": CHECKPOINT_FORMAT, "step": self.step, "epoch": self.epoch,
                "model_config": self.cfg.to_dict(), "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "ranks": per_rank, "world_size": self.dist.world_size, "num_workers": self.opts.num_workers,
                "options": _jsonable(asdict(self.opts)), "total_steps": self.total_steps,
            }
            atomic_save(state, path)
            atomic_write_text(self.out / "checkpoints" / "latest", path.name + "\n")
            self._prune_checkpoints()
        vdist.barrier()
        self._saved_step = self.step
        return path

    def _prune_checkpoints(self) -> None:
        ckpts = sorted((self.out / "checkpoints").glob("step_*.pt"))
        for old in ckpts[: -self.opts.keep_checkpoints]:
            old.unlink(missing_ok=True)

    def _resume(self) -> None:
        ckpt = load_checkpoint(latest_checkpoint(self.out), map_location="cpu")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("total_steps") != self.total_steps:
            log.warning("resumed run has %s total steps, the checkpoint was made for %s: the schedule changes",
                        self.total_steps, ckpt.get("total_steps"))
        self.step = int(ckpt["step"])
        same_layout = ckpt["world_size"] == self.dist.world_size and ckpt["num_workers"] == self.opts.num_workers
        mine = ckpt["ranks"][self.dist.rank] if same_layout else ckpt["ranks"][0]
        self.epoch = int(mine["epoch"])
        if same_layout:
            set_rng_state(mine["rng"])
            self.resume_position = Position.from_dict(mine["position"])
        else:
            log.warning("checkpoint made with world size %s and %s workers, resuming with %s and %s: the data "
                        "position cannot be restored exactly, continuing at the start of the next epoch",
                        ckpt["world_size"], ckpt["num_workers"], self.dist.world_size, self.opts.num_workers)
            self.epoch += 1
        if self.dist.is_main:
            log.info("resumed from step %d (epoch %d)", self.step, self.epoch)

    # -- the loop ----------------------------------------------------------------------------------
    def _next_batches(self, it: Iterator[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """``accum_steps`` micro-batches, or None when any rank's data ran out (all ranks stop together)."""
        batches = []
        for _ in range(self.opts.accum_steps):
            batch = next(it, None)
            if vdist.any_rank(batch is None, self.device):
                return None
            batches.append(batch)
        return batches

    def _train_step(self, batches: list[dict[str, Any]]) -> dict[str, float]:
        model, o = self.train_model, self.opts
        model.train()
        sums: dict[str, float] = {}
        for i, batch in enumerate(batches):
            batch = _to_device(batch, self.device)
            # no_sync skips the all-reduce of non-final micro-batches; the static-graph DDP must see synced
            # backward passes in its first step (reducing every micro-batch is slower but equally correct)
            sync = i == len(batches) - 1 or not self.dist.enabled or not self._ddp_warm
            ctx = contextlib.nullcontext() if sync else model.no_sync()
            with ctx, self.autocast:
                terms = self.loss_fn(model(batch))
                loss = sum(v for k, v in terms.items() if k.startswith("loss_"))
            (loss / len(batches)).backward()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / len(batches)
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach()) / len(batches)
        self._ddp_warm = True
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        sums["grad_norm"] = float(grad_norm)
        return sums

    def fit(self) -> dict[str, Any]:
        o = self.opts
        if self.dist.is_main:
            (self.out / "train_options.json").write_text(json.dumps(_jsonable(asdict(o)), indent=1))
            (self.out / "model_config.json").write_text(json.dumps(self.cfg.to_dict(), indent=1))
        metrics = MetricsLog(self.out / "metrics.jsonl", enabled=self.dist.is_main)
        bar = progress_bar(total=self.total_steps, initial=self.step, desc="train", unit="step",
                           disable=not (o.progress and self.dist.is_main))
        window = _Window()
        max_epochs = o.epochs if o.epochs is not None else math.inf
        started = time.perf_counter()
        stop_at = self.total_steps if o.stop_after is None else min(self.total_steps, self.step + o.stop_after)
        while self.step < stop_at and self.epoch < max_epochs:
            self.loader.set_epoch(self.epoch, self.resume_position)
            self.resume_position = None
            steps_before, exhausted = self.step, False
            it = iter(self.loader)
            while self.step < stop_at:
                batches = self._next_batches(it)
                if batches is None:
                    exhausted = True
                    break
                terms = self._train_step(batches)
                self.step += 1
                window.add(sum(len(b["keys"]) for b in batches), terms)
                bar.update(1)
                if self.step % o.log_every == 0 or self.step == self.total_steps:
                    record = self._log_record(window, metrics)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", sps=f"{record['samples_per_s']:.1f}")
                if self.val_shards and o.val_every and self.step % o.val_every == 0:
                    metrics.write(self.validate())
                    window.restart()
                if self.step % o.checkpoint_every == 0:
                    self._checkpoint()
                    window.restart()
            del it
            if exhausted and self.step == steps_before and self.loader.position.batches == 0:
                raise TrainError(f"epoch {self.epoch} produced no batch: every sample was skipped or there are fewer "
                                 f"than --batch-size usable samples per worker ({self.loader.summary()})")
            if exhausted:
                self.epoch += 1
        bar.close()
        return self._finish(metrics, time.perf_counter() - started)

    def _finish(self, metrics: MetricsLog, elapsed: float) -> dict[str, Any]:
        if self.val_shards:
            metrics.write(self.validate())
        if self._saved_step != self.step:
            self._checkpoint()
        counts = self._global_counters()
        in_sync = vdist.ranks_in_sync(self.model) if self.dist.enabled else True
        summary = {"event": "end", "step": self.step, "epoch": self.epoch, "world_size": self.dist.world_size,
                   "seconds": round(elapsed, 2), "samples": counts, "ranks_in_sync": in_sync,
                   "flops_per_sample": self.flops_per_sample, "checkpoint": str(latest_checkpoint(self.out))}
        metrics.write(summary)
        if self.dist.is_main:
            skipped = {k: v for k, v in counts.items() if k != "ok" and v}
            log.info("training done: %d steps; samples used %d, skipped %d %s", self.step, counts.get("ok", 0),
                     sum(skipped.values()), skipped or "")
        if not in_sync:
            raise TrainError("DDP ranks ended with different parameters")
        return summary

    def _global_counters(self) -> dict[str, int]:
        local = self.loader.counters
        names = sorted(local)
        summed = vdist.all_reduce_sum([float(local[n]) for n in names], self.device)
        return {n: int(v) for n, v in zip(names, summed, strict=True)}

    def _measure_flops(self) -> float | None:
        """FLOPs per sample on the first evaluation-mode batch of the training shards (its own loader,
        no worker, no global RNG drawn), so the training stream is untouched."""
        probe = self._make_loader(self.train_shards, train=False)
        probe.num_workers = 0
        probe.set_epoch(0)
        batch = next(iter(probe), None)
        if batch is None:
            return None
        try:
            return measure_flops_per_sample(self.model, self.loss_fn, _to_device(batch, self.device))
        except Exception as exc:  # noqa: BLE001 - FLOP counting is a diagnostic, never a reason to stop
            log.warning("could not count FLOPs (%s): MFU will not be logged", exc)
            return None

    def _log_record(self, window: _Window, metrics: MetricsLog) -> dict[str, Any]:
        means, samples, seconds = window.take()
        totals = vdist.all_reduce_sum([samples, *means.values()], self.device)
        world = self.dist.world_size
        record: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0]}
        record.update({k: v / world for k, v in zip(means, totals[1:], strict=True)})
        record["samples_per_s"] = totals[0] / max(seconds, 1e-9)
        if self.flops_per_sample and self.peak:
            record["mfu"] = record["samples_per_s"] * self.flops_per_sample / (self.peak * world)
        metrics.write(record)
        return record

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Mean loss terms on the validation shards (middle frames, first caption, fixed MGC masks)."""
        loader = self._make_loader(self.val_shards, train=False)
        loader.set_epoch(0)
        gen = torch.Generator(device=self.device).manual_seed(self.opts.seed)
        self.model.eval()
        sums: dict[str, float] = {}
        n = 0
        it = iter(loader)
        while True:
            batch = next(it, None)
            if vdist.any_rank(batch is None, self.device):
                break
            batch = _to_device(batch, self.device)
            with self.autocast:
                terms = self.loss_fn(self.model(batch, generator=gen))
            terms["loss"] = sum(v for k, v in terms.items() if k.startswith("loss_"))
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n += 1
        self.model.train()
        names = sorted(sums)
        totals = vdist.all_reduce_sum([float(n)] + [sums[k] for k in names], self.device)
        count = max(totals[0], 1.0)
        return {"step": self.step, "split": "val", "batches": int(totals[0]),
                **{f"val_{k}": v / count for k, v in zip(names, totals[1:], strict=True)}}


class _Window:
    """Samples, time and mean loss terms since the last log line (checkpoint/validation time excluded)."""

    def __init__(self) -> None:
        self.restart()
        self.sums: dict[str, float] = {}
        self.steps = 0
        self.samples = 0

    def restart(self) -> None:
        self.start = time.perf_counter()

    def add(self, samples: int, terms: dict[str, float]) -> None:
        self.samples += samples
        self.steps += 1
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def take(self) -> tuple[dict[str, float], int, float]:
        means = {k: v / max(self.steps, 1) for k, v in sorted(self.sums.items())}
        out = (means, self.samples, time.perf_counter() - self.start)
        self.sums, self.steps, self.samples = {}, 0, 0
        self.restart()
        return out


class MetricsLog:
    """Append-only JSONL (one object per line), written by rank 0 only."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(_jsonable(record)) + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def train(opts: TrainOptions) -> dict[str, Any]:
    """Run training in this process (under torchrun: this rank), tearing the process group down after."""
    dist = vdist.init_distributed(opts.device)
    try:
        return Trainer(opts, dist).fit()
    finally:
        vdist.cleanup()
