"""Text tower: a BERT encoder and a causal multimodal decoder that share every parameter but cross-attention.

transformers 5.x refuses ``add_cross_attention`` on a non-decoder BertModel and makes a decoder's
self-attention always causal, so the paper's "one BERT, bidirectional when encoding, causal with
cross-attention when decoding" is built as two BertModels whose non-cross-attention parameters are the
same ``nn.Parameter`` objects (tied by assignment, so optimisers, DDP and ``parameters()`` see them once).
"""

from __future__ import annotations

import copy
import logging

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, BertConfig, BertForMaskedLM, BertModel
from transformers.models.bert.modeling_bert import BertPredictionHeadTransform

from valor_model.config import TextCfg
from valor_model.hub import load_pretrained, minilm_dir  # noqa: F401 (minilm_dir re-exported)

log = logging.getLogger(__name__)

def bert_config(cfg: TextCfg) -> BertConfig:
    return BertConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        pad_token_id=cfg.pad_token_id,
    )


def tie_decoder(encoder: BertModel, decoder: BertModel) -> None:
    """Make every decoder parameter outside cross-attention the encoder's own tensor."""
    enc_params = dict(encoder.named_parameters())
    for name, _ in list(decoder.named_parameters()):
        if "crossattention" in name:
            continue
        module_path, _, leaf = name.rpartition(".")
        setattr(decoder.get_submodule(module_path), leaf, enc_params[name])


class TextTower(nn.Module):
    """BERT encoder (bidirectional), tied causal decoder with cross-attention, and a tied MLM head."""

    def __init__(self, cfg: TextCfg):
        super().__init__()
        head_bias = None
        if cfg.weights:
            self.encoder, self.head_transform, head_bias = _load_pretrained_bert(cfg.weights)
            _sync_cfg(cfg, self.encoder.config)
        else:
            self.encoder = BertModel(bert_config(cfg), add_pooling_layer=False)
            self.head_transform = BertPredictionHeadTransform(self.encoder.config)
        dec_cfg = copy.deepcopy(self.encoder.config)
        dec_cfg.is_decoder = True
        dec_cfg.add_cross_attention = True
        dec_cfg.use_cache = False
        self.decoder = BertModel(dec_cfg, add_pooling_layer=False)
        tie_decoder(self.encoder, self.decoder)
        self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size) if head_bias is None else head_bias)
        self.width = self.encoder.config.hidden_size

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.encoder.embeddings.word_embeddings

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Bidirectional token states [B, L, D]."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        cond: torch.Tensor,
        cond_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Causal token states [B, L, D] cross-attending to condition features [B, M, D]."""
        out = self.decoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=cond,
            encoder_attention_mask=cond_mask.long(),
            use_cache=False,
        )
        return out.last_hidden_state

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """BERT MLM head whose output matrix is the (shared) word-embedding matrix."""
        return F.linear(self.head_transform(hidden), self.word_embeddings.weight, self.head_bias)


def _load_pretrained_bert(name: str) -> tuple[BertModel, nn.Module, torch.Tensor | None]:
    """BERT encoder, plus the MLM-head transform and bias when the checkpoint has them (bert-base-uncased
    does; sentence encoders such as MiniLM do not, and then the head starts random)."""
    config = load_pretrained(AutoConfig, name, "text")
    if getattr(config, "is_decoder", False):
        raise ValueError(f"text weights {name!r} are a decoder checkpoint; an encoder BERT is expected")
    if not set(config.architectures or ()) & {"BertForMaskedLM", "BertForPreTraining"}:
        encoder = load_pretrained(BertModel, name, "text", add_pooling_layer=False)
        log.info("loaded text encoder weights from %s (MLM head random)", name)
        return encoder, BertPredictionHeadTransform(encoder.config), None
    mlm = load_pretrained(BertForMaskedLM, name, "text")
    preds = mlm.cls.predictions
    bias = getattr(preds.decoder, "bias", None)
    bias = bias.detach().clone() if bias is not None else None
    log.info("loaded text encoder + MLM head weights from %s", name)
    return mlm.bert, preds.transform, bias


def _sync_cfg(cfg: TextCfg, bert_cfg: BertConfig) -> None:
    """Make the saved config describe the loaded checkpoint, so it rebuilds without the weights."""
    cfg.vocab_size = bert_cfg.vocab_size
    cfg.hidden_size = bert_cfg.hidden_size
    cfg.num_layers = bert_cfg.num_hidden_layers
    cfg.num_heads = bert_cfg.num_attention_heads
    cfg.intermediate_size = bert_cfg.intermediate_size
    cfg.max_position_embeddings = bert_cfg.max_position_embeddings
    cfg.dropout = bert_cfg.hidden_dropout_prob
