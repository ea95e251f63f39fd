"""ValorModel: text / vision / audio towers, MGA projections, MGC decoder, retrieval and captioning.

One ``forward(batch)`` returns every tensor ValorLoss needs (a single call, so DDP sees one graph);
``encode_text`` / ``encode_media`` / ``similarity`` / ``generate`` serve prediction. Feature dicts are
flat and batch-first (see losses.py), so callers can slice and concatenate them over a gallery.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, EncoderDecoderCache

from valor_model.audio import AudioTower
from valor_model.config import ValorConfig
from valor_model.generate import beam_search
from valor_model.losses import MEDIA_PARTS, fine_grained_similarity, mask_tokens, media_view, text_view
from valor_model.text import TextTower
from valor_model.vision import VisionTower

MODALITIES = ("av", "v", "a")


def _weight_mlp(dim: int) -> nn.Module:
    """Per-position weight logits for Eq. 3 (official VALOR: Linear-ReLU-Linear on the MGA features)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1))


class ValorModel(nn.Module):
    def __init__(self, cfg: ValorConfig):
        super().__init__()
        self.cfg = cfg
        self.text = TextTower(cfg.text)
        self.vision = VisionTower(cfg.vision)
        self.audio = AudioTower(cfg.audio)
        dt, e = self.text.width, cfg.embed_dim
        self.proj = nn.ModuleDict({
            "t": nn.Linear(dt, e, bias=False),
            "v": nn.Linear(self.vision.width, e, bias=False),
            "a": nn.Linear(self.audio.width, e, bias=False),
        })
        self.weight = nn.ModuleDict({m: _weight_mlp(e) for m in ("t", "v", "a")})
        # condition features for the decoder: projected to its width, plus a modality-type embedding
        self.cond = nn.ModuleDict({
            "v": nn.Sequential(nn.Linear(self.vision.width, dt), nn.LayerNorm(dt, eps=1e-12)),
            "a": nn.Sequential(nn.Linear(self.audio.width, dt), nn.LayerNorm(dt, eps=1e-12)),
        })
        self.cond_type = nn.ParameterDict({m: nn.Parameter(0.02 * torch.randn(dt)) for m in ("v", "a")})
        self.temperature = nn.Parameter(torch.tensor(float(cfg.init_temperature)))

    # ------------------------------------------------------------------------------------ encoders
    def _embed(self, modality: str, feats: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        emb = F.normalize(self.proj[modality](feats), dim=-1)
        weight = self.weight[modality](emb).squeeze(-1)
        return {f"{modality}_emb": emb, f"{modality}_weight": weight, f"{modality}_mask": mask.bool()}

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """MGA text features: every valid token, projected and L2-normalised."""
        hidden = self.text.encode(input_ids, attention_mask)
        return self._embed("t", hidden, attention_mask)

    def encode_media(
        self,
        frames: torch.Tensor | None = None,
        fbank: torch.Tensor | None = None,
        modality: str = "av",
        frames_mask: torch.Tensor | None = None,
        fbank_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """MGA features and decoder conditions of the requested modality ("av", "v" or "a").

        Masks ([B, F] / [B, S], True = real frame/slice) default to all valid.
        """
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        out: dict[str, torch.Tensor] = {}
        inputs = {"v": (frames, frames_mask, "frames"), "a": (fbank, fbank_mask, "fbank")}
        for m in MEDIA_PARTS[modality]:
            x, mask, name = inputs[m]
            if x is None:
                raise ValueError(f"modality {modality!r} needs `{name}`")
            feats = self.vision(x) if m == "v" else self.audio(x)
            if mask is None:
                mask = torch.ones(feats.shape[:2], dtype=torch.bool, device=feats.device)
            out.update(self._embed(m, feats, mask))
            out[f"{m}_cond"] = self.cond[m](feats) + self.cond_type[m]
        return out

    @staticmethod
    def condition(media: dict[str, torch.Tensor], modality: str | None = None) -> tuple[torch.Tensor, ...]:
        """Decoder condition (features [B, M, Dt], mask [B, M]) of V, A or AV = [V; A]."""
        modality = modality or media_modality(media)
        parts = MEDIA_PARTS[modality]
        feats = torch.cat([media[f"{m}_cond"] for m in parts], dim=1)
        mask = torch.cat([media[f"{m}_mask"] for m in parts], dim=1)
        return feats, mask

    # -------------------------------------------------------------------------------------- training
    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> dict:
        """Everything ValorLoss needs: text/media MGA features, MGC logits+labels per group, temperature.

        MGC logits are computed only at masked positions ([N_masked, V]) to keep memory small.
        """
        ids, attn = batch["input_ids"], batch["attention_mask"]
        needed = "".join(m for m in "av" if m in self.cfg.modalities)
        media = self.encode_media(
            frames=batch.get("frames"),
            fbank=batch.get("fbank"),
            modality=needed,
            frames_mask=batch.get("frames_mask"),
            fbank_mask=batch.get("fbank_mask"),
        )
        out = {k: v for k, v in media.items() if not k.endswith("_cond")}
        out.update(self.encode_text(ids, attn))
        masked, labels = mask_tokens(ids, attn, self.cfg.text, self.cfg.mask_prob, generator)
        selected = labels != -100
        for group in self.cfg.groups:
            cond, cond_mask = self.condition(media, group[1:])
            hidden = self.text.decode(masked, attn, cond, cond_mask)
            out[f"mgc_logits_{group}"] = self.text.lm_logits(hidden[selected])
            out[f"mgc_labels_{group}"] = labels[selected]
        out["temperature"] = self.temperature
        return out

    # ------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def similarity(
        self, text: dict[str, torch.Tensor], media: dict[str, torch.Tensor], chunk_elements: int = 2**26
    ) -> torch.Tensor:
        """Fine-grained s(T, X) of every text against every media item: Float[n_text, n_media].

        Chunked over texts so the [chunk, n_media, Lt, Lx] token-score tensor stays bounded.
        """
        t_emb, t_w, t_m = text_view(text)
        x_emb, x_w, x_m = media_view(media, media_modality(media))
        per_text = max(1, x_emb.shape[0] * t_emb.shape[1] * x_emb.shape[1])
        step = max(1, chunk_elements // per_text)
        rows = [
            fine_grained_similarity(t_emb[i : i + step], t_w[i : i + step], t_m[i : i + step], x_emb, x_w, x_m)
            for i in range(0, t_emb.shape[0], step)
        ]
        return torch.cat(rows, dim=0)

    def next_token_logprobs(self, tokens: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor):
        """Log-probs [N, V] of the token after `tokens` [N, t]: predicted at a trailing [MASK] (as in MGC)."""
        mask_col = torch.full_like(tokens[:, :1], self.cfg.text.mask_token_id)
        ids = torch.cat([tokens, mask_col], dim=1)
        hidden = self.text.decode(ids, torch.ones_like(ids), cond, cond_mask)[:, -1]
        return torch.log_softmax(self.text.lm_logits(hidden).float(), dim=-1)

    @torch.no_grad()
    def generate(
        self,
        media: dict[str, torch.Tensor],
        beam_size: int | None = None,
        max_len: int | None = None,
        use_cache: bool = True,
    ) -> list[list[int]]:
        """Captions (token ids without [CLS]/[SEP]/[PAD]) by beam search conditioned on `media`.

        use_cache keeps the keys/values of the accepted prefix (same result, ~len/2 times less decoder work).
        """
        beam_size = beam_size or self.cfg.beam_size
        max_len = max_len or self.cfg.max_gen_len
        positions = self.text.encoder.config.max_position_embeddings
        if max_len + 2 > positions:  # [CLS] + tokens + the trailing [MASK]
            raise ValueError(f"max_len={max_len} needs {max_len + 2} positions; the text model has {positions}")
        cond, cond_mask = self.condition(media)
        cond = cond.repeat_interleave(beam_size, dim=0)
        cond_mask = cond_mask.repeat_interleave(beam_size, dim=0)
        tc = self.cfg.text
        was_training = self.training
        self.eval()
        cached = _CachedStep(self, cond, cond_mask) if use_cache else None
        try:
            return beam_search(
                cached or (lambda tokens: self.next_token_logprobs(tokens, cond, cond_mask)),
                batch_size=cond.shape[0] // beam_size,
                bos=tc.cls_token_id,
                eos=tc.sep_token_id,
                beam_size=beam_size,
                max_len=max_len,
                banned=(tc.pad_token_id, tc.cls_token_id, tc.mask_token_id, tc.unk_token_id),
                device=cond.device,
                reorder=cached.reorder if cached else None,
            )
        finally:
            self.train(was_training)


class _CachedStep:
    """next_token_logprobs with a KV cache of the accepted prefix: each call feeds only the tokens not yet
    cached plus the trailing [MASK], then drops the [MASK]'s keys/values (it is replaced next step)."""

    def __init__(self, model: ValorModel, cond: torch.Tensor, cond_mask: torch.Tensor):
        self.model, self.cond, self.cond_mask = model, cond, cond_mask
        config = model.text.decoder.config
        self.cache = EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        text = self.model.text
        done = self.cache.get_seq_length()
        mask_col = torch.full_like(tokens[:, :1], self.model.cfg.text.mask_token_id)
        ids = torch.cat([tokens[:, done:], mask_col], dim=1)
        out = text.decoder(
            input_ids=ids,
            attention_mask=torch.ones(tokens.shape[0], tokens.shape[1] + 1, dtype=torch.long, device=ids.device),
            encoder_hidden_states=self.cond,
            encoder_attention_mask=self.cond_mask.long(),
            past_key_values=self.cache,
            use_cache=True,
        )
        self.cache.crop(-1)
        return torch.log_softmax(text.lm_logits(out.last_hidden_state[:, -1]).float(), dim=-1)

    def reorder(self, rows: torch.Tensor) -> None:
        self.cache.reorder_cache(rows)


def media_modality(media: dict[str, torch.Tensor]) -> str:
    """"av", "v" or "a", from the feature keys present."""
    modality = "".join(m for m in "av" if f"{m}_emb" in media)
    if not modality:
        raise KeyError("media features hold neither v_* nor a_* keys")
    return modality


def cat_features(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Concatenate feature dicts along the batch; sequences of different lengths are zero-padded (masked)."""
    if not parts:
        raise ValueError("cat_features needs at least one dict")
    out = {}
    for key in parts[0]:
        tensors = [p[key] for p in parts]
        if tensors[0].dim() > 1:
            length = max(t.shape[1] for t in tensors)
            tensors = [_pad_dim1(t, length) for t in tensors]
        out[key] = torch.cat(tensors, dim=0)
    return out


def _pad_dim1(t: torch.Tensor, length: int) -> torch.Tensor:
    if t.shape[1] == length:
        return t
    pad = [0, 0] * (t.dim() - 2) + [0, length - t.shape[1]]
    return F.pad(t, pad)
