"""``valor-bench export-refs``: the references ``evaluate`` scores against, as a file other tools read.

``--format coco`` writes a COCO caption annotation file (``valor_data.release.coco``) that pycocotools +
pycocoevalcap's ``COCOEvalCap`` and the official VALOR code both read; ``--predictions`` also converts
an AVC submission, checked against the same references, to the COCO results format. Scored with
``COCOEvalCap``, the pair gives the numbers ``valor-bench evaluate`` gives (docs/guide/release.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from valor_bench.commands.common import available_option, gt_options, load_gt
from valor_bench.ground_truth import GroundTruth
from valor_bench.validate import validate_submission
from valor_data.commands.options import json_option
from valor_data.release.coco import caption_annotations, caption_results, write_coco_json

__all__ = ["export_refs"]  # the verb, loaded by name (valor_data.lazycli)

FORMATS = ("coco",)
VALOR_URL = "https://github.com/TXH-mercury/VALOR"
# The shipped VALOR-32K captions' terms (annotations/README.md); a user's own file has none we know of.
VALOR32K_LICENSE = {"id": 1, "name": "research use, as released by the VALOR authors", "url": VALOR_URL}


def coco_references(gt: GroundTruth) -> dict:
    """The COCO caption annotation file of ``gt``: its clips in file order, all their captions."""
    shipped = not gt.split.startswith("file:")
    provenance = {"split": gt.split, "annotations": gt.path.name, "annotations_sha256": gt.sha256,
                  "coverage": gt.coverage.as_json()}
    return caption_annotations(((v, gt.captions[v]) for v in gt.video_ids),
                               description=f"VALOR-32K {gt.split} captions" if shipped else f"captions of {gt.path.name}",
                               url=VALOR_URL if shipped else "", licenses=[VALOR32K_LICENSE] if shipped else [],
                               provenance=provenance)


def _write(path: Path, data: dict | list) -> None:
    try:
        write_coco_json(path, data)
    except OSError as e:
        raise click.ClickException(f"{path}: cannot write it ({e.strerror or e})") from None


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="coco", show_default=True,
              help="coco: a COCO caption annotation file (pycocotools, pycocoevalcap, the official VALOR code).")
@gt_options
@available_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The reference file to write.")
@click.option("--predictions", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="An AVC submission to convert as well; it must pass `valor-bench validate` for these references.")
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write --predictions in the COCO results format.")
@json_option("a summary")
def export_refs(fmt: str, split: str | None, annotations: Path | None, available: Path | None, out: Path,
                predictions: Path | None, results: Path | None, as_json: bool) -> None:
    """Write the references `evaluate` scores against (--split, --annotations, --available) to --out, and
    --predictions as COCO results to --results."""
    if (predictions is None) != (results is None):
        raise click.UsageError("--predictions and --results go together: the submission and where its COCO results go")
    gt = load_gt(split, annotations, available)
    result_list = None
    if predictions is not None:
        v = validate_submission(predictions, "avc", gt, {})
        if not v.ok:
            for problem in v.problems:
                click.echo(f"{predictions}: {problem}", err=True)
            raise click.ClickException(f"{predictions} is not a valid AVC submission for {gt.scope} "
                                       f"({len(v.problems)} problems); nothing was written")
        hyps = {e.video_id: e.caption for e in v.submission.entries}
        result_list = caption_results((clip, hyps[clip]) for clip in gt.video_ids)
    refs = coco_references(gt)
    _write(out, refs)
    if result_list is not None:
        _write(results, result_list)
    summary = {"format": fmt, "out": str(out), "split": gt.split, "clips": gt.n_clips,
               "captions": len(refs["annotations"]), "coverage": gt.coverage.as_json(), "notes": gt.notes,
               "results": None if results is None else str(results)}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for note in gt.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {out}: COCO caption references of {gt.describe()}")
    if results is not None:
        click.echo(f"wrote {results}: COCO results of {predictions.name} ({len(result_list):,} captions)")
