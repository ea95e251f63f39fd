"""`valor-model predict`: benchmark submissions from a checkpoint and a set of shards.

* AVR: the ``.npz`` similarity matrix of valor-bench — ``sim`` [n_text, n_video] float32 (the paper's
  fine-grained s(T, X), computed block by block over the gallery), ``text_ids`` (``{clip_id}#{i}``, the
  i-th caption of the clip, valor_bench's canonical form) and ``video_ids`` (clip ids).
* AVC: ``[{"video_id", "caption"}]`` JSON, captions by beam search (beam 3, at most 30 tokens, as in the
  paper) decoded by the model's tokenizer.
* ``annotations_out``: the VALOR-format ground truth (``[{"video_id", "desc"}]``) of the shards, read
  from the ``.json`` members only (nothing decoded), so users can evaluate on their own shards.
* ``available_out`` (default ``NAME.available.txt`` next to the submission): the availability list of the
  clips the submission covers, for ``valor-bench ... --available``. Shards that lack clips of a split
  (vanished from YouTube, failed to decode) give a submission for the clips they have and this list, so
  the result is scored and labelled as partial coverage, never padded with zeros for missing media.

Only the modality asked for is decoded (``--modality v`` never needs the audio), and clips that cannot be
decoded are counted and reported, never replaced by zeros.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from webdataset import tariterators

from valor_data.availability import write_availability
from valor_data.progress import progress_bar
from valor_model.data import (
    BadSample,
    ValorLoader,
    expand_shards,
    read_captions,
    stream_config_for,
    tokenize_captions,
)
from valor_model.distributed import resolve_device
from valor_model.factory import create_model, get_tokenizer
from valor_model.model import cat_features
from valor_model.train import load_checkpoint

log = logging.getLogger(__name__)

TASKS = ("avr", "avc")
MODALITIES = ("av", "v", "a")


class PredictError(RuntimeError):
    """Bad options or inputs for predict; one line for the user."""


@dataclass
class PredictOptions:
    task: str
    checkpoint: str
    shards: str
    out: str
    modality: str = "av"
    batch_size: int = 32
    num_workers: int = 2
    device: str = "auto"
    beam_size: int = 3
    max_len: int = 30
    annotations_out: str | None = None
    available_out: str | None = None  # default: NAME.available.txt next to the submission
    model_name: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise PredictError(f"--task {self.task!r}: choose one of {', '.join(TASKS)}")
        if self.modality not in MODALITIES:
            raise PredictError(f"--modality {self.modality!r}: choose one of {', '.join(MODALITIES)}")
        suffix = Path(self.out).suffix.lower()
        if self.task == "avr" and suffix != ".npz":
            raise PredictError(f"--out {self.out}: an AVR submission is a .npz similarity matrix")
        if self.task == "avc" and suffix not in (".json", ".jsonl"):
            raise PredictError(f"--out {self.out}: an AVC submission is a .json (or .jsonl) file")
        if self.batch_size < 1 or self.beam_size < 1 or self.max_len < 1:
            raise PredictError("--batch-size, --beam-size and --max-len must be >= 1")

    @property
    def available_path(self) -> Path:
        out = Path(self.out)
        return Path(self.available_out) if self.available_out else out.with_name(out.stem + ".available.txt")


def load_model(checkpoint: str | Path, device: torch.device):
    """The model of a training checkpoint (file or run directory), in eval mode on ``device``."""
    ckpt = load_checkpoint(checkpoint, map_location="cpu")
    model = create_model(ckpt["model_config"], random_init=True)  # weights come from the checkpoint
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def read_annotations(shards: Sequence[str]) -> list[dict[str, Any]]:
    """VALOR-format ground truth of the shards: one entry per clip with at least one caption, in shard
    order; ``desc`` is the caption, or the list when a clip has several. Reads the .json/.txt members only."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    wanted = ("json", "txt")
    samples = tariterators.tarfile_samples(
        ({"url": u} for u in shards), select_files=lambda name: name.rsplit(".", 1)[-1] in wanted
    )
    for sample in samples:
        try:
            meta, captions = read_captions(sample)
        except BadSample as bad:
            log.warning("%s: %s", sample.get("__key__"), bad)
            continue
        clip_id = meta.get("clip_id") or sample["__key__"]
        if not captions or clip_id in seen:
            continue
        seen.add(clip_id)
        out.append({"video_id": clip_id, "desc": captions[0] if len(captions) == 1 else captions})
    return out


class Predictor:
    """Encodes a gallery once and writes the AVR or AVC submission."""

    def __init__(self, opts: PredictOptions):
        self.opts = opts
        self.device = resolve_device(opts.device)
        try:
            self.shards = expand_shards(opts.shards)
        except ValueError as exc:
            raise PredictError(f"--shards: {exc}") from None
        try:
            self.model, ckpt = load_model(opts.checkpoint, self.device)
        except (FileNotFoundError, ValueError) as exc:
            raise PredictError(f"--checkpoint: {exc}") from None
        self.cfg = self.model.cfg
        self.tokenizer = get_tokenizer(self.cfg)
        self.step = ckpt.get("step")
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda"
                         else contextlib.nullcontext())

    def _loader(self) -> ValorLoader:
        scfg = stream_config_for(self.cfg, self.opts.batch_size, train=False, modality=self.opts.modality,
                                 need_caption=False)
        loader = ValorLoader(self.shards, scfg, self.tokenizer, num_workers=self.opts.num_workers,
                             pin_memory=self.device.type == "cuda")
        loader.set_epoch(0)
        return loader

    def _media(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        frames = batch.get("frames")
        fbank = batch.get("fbank")
        with self.autocast:
            return self.model.encode_media(
                frames=frames.to(self.device) if frames is not None else None,
                fbank=fbank.to(self.device) if fbank is not None else None,
                modality=self.opts.modality,
            )

    def _batches(self, desc: str):
        loader = self._loader()
        bar = progress_bar(desc=desc, unit="clip", disable=not self.opts.progress)
        seen: set[str] = set()
        for batch in loader:
            keep = [i for i, c in enumerate(batch["clip_ids"]) if c not in seen]
            seen.update(batch["clip_ids"])
            bar.update(len(batch["clip_ids"]))
            if len(keep) < len(batch["clip_ids"]):
                log.warning("duplicate clip ids in the shards: keeping the first of each")
                batch = _take(batch, keep)
            if keep:
                yield batch
        bar.close()
        self.counters = loader.counters
        if loader.counter.skipped:
            log.warning("%s; skipped clips are missing from the submission (check the shards with "
                        "`valor-data verify`)", loader.summary())

    @torch.no_grad()
    def avr(self) -> dict[str, Any]:
        media_parts, clip_ids, texts, text_ids = [], [], [], []
        for batch in self._batches("encode gallery"):
            media_parts.append({k: (v.float() if v.is_floating_point() else v).cpu() for k, v in self._media(batch).items()})
            clip_ids.extend(batch["clip_ids"])
            for clip, caps in zip(batch["clip_ids"], batch["all_captions"], strict=True):
                texts.extend(caps)
                text_ids.extend(f"{clip}#{i}" for i in range(len(caps)))
        if not clip_ids or not texts:
            raise PredictError(f"--shards {self.opts.shards}: no decodable clip with a caption")
        media = {k: v.to(self.device) for k, v in cat_features(media_parts).items()}
        sim = np.empty((len(texts), len(clip_ids)), dtype=np.float32)
        bs = self.opts.batch_size
        bar = progress_bar(total=len(texts), desc="similarity", unit="text", disable=not self.opts.progress)
        for start in range(0, len(texts), bs):
            tok = {k: v.to(self.device) for k, v in
                   tokenize_captions(self.tokenizer, texts[start : start + bs], self.cfg.max_text_len).items()}
            with self.autocast:
                text = self.model.encode_text(tok["input_ids"], tok["attention_mask"])
                sim[start : start + bs] = self.model.similarity(text, media).float().cpu().numpy()
            bar.update(len(texts[start : start + bs]))
        bar.close()
        out = Path(self.opts.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, sim=np.ascontiguousarray(sim), text_ids=np.array(text_ids, dtype=str),
                 video_ids=np.array(clip_ids, dtype=str))
        return {"texts": len(texts), "videos": len(clip_ids), "clip_ids": clip_ids}

    @torch.no_grad()
    def avc(self) -> dict[str, Any]:
        records = []
        for batch in self._batches("caption"):
            media = self._media(batch)
            with self.autocast:
                ids = self.model.generate(media, beam_size=self.opts.beam_size, max_len=self.opts.max_len)
            for clip, seq in zip(batch["clip_ids"], ids, strict=True):
                # ids below first_word_id are [PAD]/[unusedN]/[UNK]/[CLS]/[SEP]/[MASK]: never words
                seq = [t for t in seq if t >= self.cfg.text.first_word_id]
                text = self.tokenizer.decode(seq, skip_special_tokens=True, clean_up_tokenization_spaces=True)
                records.append({"video_id": clip, "caption": text.strip()})
        if not records:
            raise PredictError(f"--shards {self.opts.shards}: no decodable clip")
        out = Path(self.opts.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".jsonl":
            out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        else:
            out.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        return {"videos": len(records), "clip_ids": [r["video_id"] for r in records]}

    def run(self) -> dict[str, Any]:
        self.counters: dict[str, int] = {}
        result = self.avr() if self.opts.task == "avr" else self.avc()
        self._write_metadata()
        result.update(self._write_availability(result.pop("clip_ids")))
        if self.opts.annotations_out:
            ann = read_annotations(self.shards)
            path = Path(self.opts.annotations_out)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(ann, ensure_ascii=False, indent=1), encoding="utf-8")
            result["annotations"] = len(ann)
        return {"task": self.opts.task, "modality": self.opts.modality, "out": self.opts.out,
                "checkpoint_step": self.step, **result, "samples": self.counters}

    def _write_availability(self, clip_ids: list[str]) -> dict[str, Any]:
        """The list of the clips this submission covers, to pass to valor-bench's ``--available``."""
        skipped = {k: v for k, v in self.counters.items() if k != "ok" and v}
        header = {"source": f"valor-model predict --task {self.opts.task} --shards {self.opts.shards}",
                  "skipped": (", ".join(f"{k} {v}" for k, v in skipped.items()) or "none")
                  + " (undecodable clips are left out, never replaced by zeros)"}
        path = self.opts.available_path
        digest = write_availability(path, clip_ids, header)
        return {"available_out": str(path), "available": len(set(clip_ids)), "available_digest": digest,
                "skipped": sum(skipped.values())}

    def _write_metadata(self) -> None:
        """The valor-bench sidecar (``NAME.meta.json``): model name and modality."""
        out = Path(self.opts.out)
        meta = {"model_name": self.opts.model_name or f"valor-{self.cfg.name}", "modality": self.opts.modality}
        out.with_name(out.stem + ".meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def _take(batch: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    idx = torch.tensor(keep, dtype=torch.long)
    return {k: (v.index_select(0, idx) if isinstance(v, torch.Tensor) else [v[i] for i in keep])
            for k, v in batch.items()}


def predict(opts: PredictOptions) -> dict[str, Any]:
    return Predictor(opts).run()
