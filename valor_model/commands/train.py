"""``valor-model train``: options -> TrainOptions -> the trainer; errors end in one line."""

from __future__ import annotations

import json
import os

import click

from valor_data.commands.options import json_option, progress_option
from valor_model.commands.common import parse_groups, parse_overrides, setup_logging


@click.command()
@click.option("--config", "config", required=True, help="Model config: tiny, base, large, or a JSON file.")
@click.option("--train-shards", required=True,
              help="Shard directory, brace pattern ('dir/train-{000000..000003}.tar'), glob or '::' list.")
@click.option("--val-shards", default=None, help="Validation shards (same forms); loss logged as val_*.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Samples per device per micro-batch.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True, help="Peak learning rate (AdamW).")
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None, help="Linear warm-up steps [default: 10% of the steps].")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.01, show_default=True, help="AdamW weight decay (not on biases/norms).")
@click.option("--grad-clip", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Max gradient norm.")
@click.option("--accum-steps", type=click.IntRange(min=1), default=1, show_default=True, help="Gradient accumulation micro-batches.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Optimiser steps of the schedule.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Passes over the training shards.")
@click.option("--stop-after", type=click.IntRange(min=1), default=None,
              help="Stop this session after N steps (the schedule is unchanged); continue with --resume.")
@click.option("--seed", default=0, show_default=True)
@click.option("--groups", default=None, help="MGA/MGC groups, e.g. 'tv,ta,tav' [default: the config's].")
@click.option("--num-workers", type=click.IntRange(min=0), default=2, show_default=True, help="DataLoader workers per process.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True, help="Steps between checkpoints.")
@click.option("--keep-checkpoints", type=click.IntRange(min=1), default=2, show_default=True, help="Checkpoints kept on disk.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True, help="Steps between metrics.jsonl lines.")
@click.option("--val-every", type=click.IntRange(min=1), default=None, help="Steps between validations (and at the end).")
@click.option("--peak-tflops", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak device TFLOP/s for MFU [default on CUDA: known bf16 peak of the GPU].")
@click.option("--shuffle-buffer", type=click.IntRange(min=0), default=1000, show_default=True, help="Samples in the shuffle buffer.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint.")
@click.option("--text-weights", default=None, help="Text encoder weights: 'minilm' (offline), a dir or HF name.")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Model config override, e.g. audio_slices=1 or audio.slice_frames=256 (repeatable).")
@progress_option
@json_option("the final summary")
def train(config: str, train_shards: str, val_shards: str | None, out: str, batch_size: int, lr: float,
          warmup_steps: int | None, weight_decay: float, grad_clip: float, accum_steps: int, max_steps: int | None,
          epochs: int | None, stop_after: int | None, seed: int, groups: str | None, num_workers: int, device: str,
          compile_: bool, checkpoint_every: int, keep_checkpoints: int, log_every: int, val_every: int | None,
          peak_tflops: float | None, shuffle_buffer: int, resume: bool, text_weights: str | None,
          overrides: tuple[str, ...], progress: bool, as_json: bool) -> None:
    """Train VALOR on WebDataset shards (under `torchrun --nproc_per_node N` for DDP).

    Writes OUT/metrics.jsonl, OUT/checkpoints/step_*.pt (+ `latest`), OUT/model_config.json.
    """
    setup_logging()
    # optional extra: model (torch, transformers); `valor-model --help` stays fast without them
    from valor_model.data import ShardSpecError
    from valor_model.factory import get_config
    from valor_model.hub import WeightsUnavailable
    from valor_model.train import TrainError, TrainOptions
    from valor_model.train import train as run_train

    model_overrides = parse_overrides(overrides)
    parsed_groups = parse_groups(groups)
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
    except WeightsUnavailable as exc:
        raise click.ClickException(
            f"{exc.problem}; to build the architecture without weights (offline): --override random_init=true; "
            "or point the config (or --text-weights) at a local directory") from None
    if int(os.environ.get("RANK", "0")) == 0:
        if as_json:
            click.echo(json.dumps(summary))
        else:
            skipped = {k: v for k, v in summary["samples"].items() if k != "ok" and v}
            click.echo(f"trained {summary['step']} steps in {summary['seconds']:.0f} s; samples used "
                       f"{summary['samples'].get('ok', 0)}, skipped {sum(skipped.values())} {skipped or ''}; "
                       f"checkpoint {summary['checkpoint']}", err=True)
