"""``valor-model predict``: a checkpoint and shards -> an AVR or AVC submission for valor-bench."""

from __future__ import annotations

import json

import click

from valor_data.commands.options import json_option, progress_option
from valor_model.commands.common import setup_logging


@click.command()
@click.option("--task", type=click.Choice(["avr", "avc"]), required=True,
              help="avr: .npz similarity matrix; avc: captions JSON.")
@click.option("--checkpoint", required=True, type=click.Path(exists=True), help="A checkpoint file or a training run directory.")
@click.option("--shards", required=True, help="Shard directory, brace pattern, glob or '::' list.")
@click.option("--modality", type=click.Choice(["av", "v", "a"]), default="av", show_default=True,
              help="Media the model sees.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Submission file (.npz / .json).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--num-workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--beam-size", type=click.IntRange(min=1), default=3, show_default=True, help="AVC beam width.")
@click.option("--max-len", type=click.IntRange(min=1), default=30, show_default=True, help="AVC maximum caption tokens.")
@click.option("--annotations-out", default=None, type=click.Path(dir_okay=False),
              help="Also write the shards' ground truth as VALOR JSON (for valor-bench --annotations).")
@click.option("--available-out", default=None, type=click.Path(dir_okay=False),
              help="Availability list of the clips the submission covers, for valor-bench --available "
                   "(default: NAME.available.txt next to --out).")
@click.option("--model-name", default=None, help="Model name for the submission's .meta.json sidecar.")
@progress_option
@json_option("a summary")
def predict(task: str, checkpoint: str, shards: str, modality: str, out: str, batch_size: int, num_workers: int,
            device: str, beam_size: int, max_len: int, annotations_out: str | None, available_out: str | None,
            model_name: str | None, progress: bool, as_json: bool) -> None:
    """Write an AVR or AVC submission for valor-bench from a checkpoint and shards."""
    setup_logging()
    # optional extra: model (torch, transformers); `valor-model --help` stays fast without them
    from valor_model.predict import PredictError, PredictOptions
    from valor_model.predict import predict as run_predict

    try:
        summary = run_predict(PredictOptions(
            task=task, checkpoint=checkpoint, shards=shards, out=out, modality=modality, batch_size=batch_size,
            num_workers=num_workers, device=device, beam_size=beam_size, max_len=max_len,
            annotations_out=annotations_out, available_out=available_out, model_name=model_name, progress=progress,
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
        skipped = f", {summary['skipped']} undecodable clips left out" if summary["skipped"] else ""
        click.echo(f"wrote {summary['available_out']}: the {summary['available']} clips the submission covers{skipped}; "
                   f"if the shards lack clips of the split, score with valor-bench ... --available "
                   f"{summary['available_out']}", err=True)
