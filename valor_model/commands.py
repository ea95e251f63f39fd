"""The `valor-model train` and `valor-model predict` commands (thin: options -> TrainOptions/PredictOptions)."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import click


def _setup_logging() -> None:
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, stream=sys.stderr,
                        format="%(message)s" if rank == 0 else f"[rank {rank}] %(message)s")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _parse_overrides(values: tuple[str, ...]) -> dict[str, Any]:
    """``--override audio.slice_frames=256`` -> {"audio": {"slice_frames": 256}} (values parsed as JSON,
    else kept as strings)."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. audio_slices=1", param_hint="--override")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _parse_groups(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    from valor_model.config import GROUPS

    groups = tuple(g.strip() for g in value.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise click.BadParameter(f"{value!r}: a comma list of {', '.join(GROUPS)}", param_hint="--groups")
    return groups


@click.command()
@click.option("--config", "config", required=True, help="Model config: tiny, base, large, or a JSON file.")
@click.option("--train-shards", required=True,
              help="Shard directory, brace pattern ('dir/train-{000000..000003}.tar'), glob or '::' list.")
@click.option("--val-shards", default=None, help="Validation shards (same forms); loss logged as val_*.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--batch-size", default=32, show_default=True, help="Samples per device per micro-batch.")
@click.option("--lr", default=1e-4, show_default=True, help="Peak learning rate (AdamW).")
@click.option("--warmup-steps", type=int, default=None, help="Linear warm-up steps [default: 10% of the steps].")
@click.option("--weight-decay", default=0.01, show_default=True, help="AdamW weight decay (not on biases/norms).")
@click.option("--grad-clip", default=1.0, show_default=True, help="Max gradient norm.")
@click.option("--accum-steps", default=1, show_default=True, help="Gradient accumulation micro-batches.")
@click.option("--max-steps", type=int, default=None, help="Optimiser steps of the schedule.")
@click.option("--epochs", type=int, default=None, help="Passes over the training shards.")
@click.option("--stop-after", type=int, default=None,
              help="Stop this session after N steps (the schedule is unchanged); continue with --resume.")
@click.option("--seed", default=0, show_default=True)
@click.option("--groups", default=None, help="MGA/MGC groups, e.g. 'tv,ta,tav' [default: the config's].")
@click.option("--num-workers", default=2, show_default=True, help="DataLoader workers per process.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--checkpoint-every", default=1000, show_default=True, help="Steps between checkpoints.")
@click.option("--keep-checkpoints", default=2, show_default=True, help="Checkpoints kept on disk.")
@click.option("--log-every", default=10, show_default=True, help="Steps between metrics.jsonl lines.")
@click.option("--val-every", type=int, default=None, help="Steps between validations (and at the end).")
@click.option("--peak-tflops", type=float, default=None,
              help="Peak device TFLOP/s for MFU [default on CUDA: known bf16 peak of the GPU].")
@click.option("--shuffle-buffer", default=1000, show_default=True, help="Samples in the shuffle buffer.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint.")
@click.option("--text-weights", default=None, help="Text encoder weights: 'minilm' (offline), a dir or HF name.")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Model config override, e.g. audio_slices=1 or audio.slice_frames=256 (repeatable).")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON on stdout.")
def train(config: str, train_shards: str, val_shards: str | None, out: str, batch_size: int, lr: float,
          warmup_steps: int | None, weight_decay: float, grad_clip: float, accum_steps: int, max_steps: int | None,
          epochs: int | None, stop_after: int | None, seed: int, groups: str | None, num_workers: int, device: str,
          compile_: bool, checkpoint_every: int, keep_checkpoints: int, log_every: int, val_every: int | None,
          peak_tflops: float | None, shuffle_buffer: int, resume: bool, text_weights: str | None,
          overrides: tuple[str, ...], progress: bool, as_json: bool) -> None:
    """Train VALOR on WebDataset shards (under `torchrun --nproc_per_node N` for DDP).

    Writes OUT/metrics.jsonl, OUT/checkpoints/step_*.pt (+ `latest`), OUT/model_config.json.
    """
    _setup_logging()
    from valor_model.data import ShardSpecError
    from valor_model.factory import get_config
    from valor_model.train import TrainError, TrainOptions
    from valor_model.train import train as run_train

    model_overrides = _parse_overrides(overrides)
    parsed_groups = _parse_groups(groups)
    try:
        get_config(config, **model_overrides, **({"groups": list(parsed_groups)} if parsed_groups else {}))
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"--config {config}: {exc}") from None
    try:
        opts = TrainOptions(
            config=config, train_shards=train_shards, out=out, val_shards=val_shards, batch_size=batch_size,
            lr=lr, warmup_steps=warmup_steps, weight_decay=weight_decay, grad_clip=grad_clip,
            accum_steps=accum_steps, max_steps=max_steps, epochs=epochs, stop_after=stop_after, seed=seed,
            groups=parsed_groups, num_workers=num_workers, device=device, compile=compile_,
            checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints, log_every=log_every,
            val_every=val_every, peak_tflops=peak_tflops, shuffle_buffer=shuffle_buffer, resume=resume,
            text_weights=text_weights, model_overrides=model_overrides, progress=progress,
        )
        summary = run_train(opts)
    except ShardSpecError as exc:
        raise click.ClickException(f"--train-shards/--val-shards: {exc}") from None
    except (TrainError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if int(os.environ.get("RANK", "0")) == 0:
        if as_json:
            click.echo(json.dumps(summary))
        else:
            skipped = {k: v for k, v in summary["samples"].items() if k != "ok" and v}
            click.echo(f"trained {summary['step']} steps in {summary['seconds']:.0f} s; samples used "
                       f"{summary['samples'].get('ok', 0)}, skipped {sum(skipped.values())} {skipped or ''}; "
                       f"checkpoint {summary['checkpoint']}", err=True)


@click.command()
@click.option("--task", type=click.Choice(["avr", "avc"]), required=True,
              help="avr: .npz similarity matrix; avc: captions JSON.")
@click.option("--checkpoint", required=True, help="A checkpoint file or a training run directory.")
@click.option("--shards", required=True, help="Shard directory, brace pattern, glob or '::' list.")
@click.option("--modality", type=click.Choice(["av", "v", "a"]), default="av", show_default=True,
              help="Media the model sees.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Submission file (.npz / .json).")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--num-workers", default=2, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--beam-size", default=3, show_default=True, help="AVC beam width.")
@click.option("--max-len", default=30, show_default=True, help="AVC maximum caption tokens.")
@click.option("--annotations-out", default=None, type=click.Path(dir_okay=False),
              help="Also write the shards' ground truth as VALOR JSON (for valor-bench --annotations).")
@click.option("--model-name", default=None, help="Model name for the submission's .meta.json sidecar.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def predict(task: str, checkpoint: str, shards: str, modality: str, out: str, batch_size: int, num_workers: int,
            device: str, beam_size: int, max_len: int, annotations_out: str | None, model_name: str | None,
            progress: bool, as_json: bool) -> None:
    """Write an AVR or AVC submission for valor-bench from a checkpoint and shards."""
    _setup_logging()
    from valor_model.predict import PredictError, PredictOptions
    from valor_model.predict import predict as run_predict

    try:
        summary = run_predict(PredictOptions(
            task=task, checkpoint=checkpoint, shards=shards, out=out, modality=modality, batch_size=batch_size,
            num_workers=num_workers, device=device, beam_size=beam_size, max_len=max_len,
            annotations_out=annotations_out, model_name=model_name, progress=progress,
        ))
    except PredictError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary))
    else:
        what = f"{summary.get('texts')} texts x {summary['videos']} clips" if task == "avr" else \
            f"{summary['videos']} captions"
        click.echo(f"wrote {out}: {what} (modality {modality})"
                   + (f"; ground truth {annotations_out}" if annotations_out else ""), err=True)
