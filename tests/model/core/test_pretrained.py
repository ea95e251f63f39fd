"""The from_pretrained code paths, exercised offline on small checkpoints saved to a temporary directory."""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torch.nn.functional as F
from transformers import ASTConfig, ASTModel, BertConfig, BertForMaskedLM, CLIPVisionConfig, CLIPVisionModel

from valor_model import hub
from valor_model.audio import interpolate_positions, patch_grid
from valor_model.factory import create_model, get_tokenizer


def test_vision_weights_from_a_local_checkpoint(tmp_path):
    cfg = CLIPVisionConfig(image_size=32, patch_size=16, hidden_size=48, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=96)
    torch.manual_seed(0)
    source = CLIPVisionModel(cfg)
    source.save_pretrained(tmp_path)
    model = create_model("tiny", vision_weights=str(tmp_path), groups=("tv",))
    torch.testing.assert_close(model.vision.clip.state_dict()["embeddings.class_embedding"],
                               source.state_dict()["embeddings.class_embedding"])
    assert (model.cfg.vision.image_size, model.cfg.vision.hidden_size) == (32, 48)  # cfg follows weights
    assert model.vision(torch.randn(2, 3, 3, 32, 32)).shape == (2, 3, 48)


def test_ast_weights_with_a_different_mel_grid_are_interpolated(tmp_path):
    # a checkpoint trained on 128 bins x 1024 frames (like MIT/ast-finetuned-audioset), small dims
    cfg = ASTConfig(num_mel_bins=128, max_length=1024, hidden_size=32, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    source = ASTModel(cfg)
    with torch.no_grad():
        source.embeddings.position_embeddings.normal_()
    source.save_pretrained(tmp_path)
    model = create_model("tiny", audio_weights=str(tmp_path), groups=("ta",))
    ast = model.audio.ast
    assert (ast.config.num_mel_bins, ast.config.max_length) == (64, 512)
    assert patch_grid(cfg) == (12, 101) and patch_grid(ast.config) == (5, 50)
    src_pos, pos = source.embeddings.position_embeddings, ast.embeddings.position_embeddings
    assert pos.shape == (1, 252, 32)
    torch.testing.assert_close(pos[:, :2], src_pos[:, :2])  # CLS + distillation copied
    grid = src_pos[0, 2:].reshape(12, 101, 32).permute(2, 0, 1)[None]
    expected = F.interpolate(grid, size=(5, 50), mode="bilinear", align_corners=False)
    torch.testing.assert_close(pos[0, 2:], expected[0].permute(1, 2, 0).reshape(250, 32))
    src_state = source.state_dict()
    for key, value in ast.state_dict().items():  # everything else is the checkpoint's
        if key != "embeddings.position_embeddings":
            torch.testing.assert_close(value, src_state[key])
    assert model(_ta_batch()) is not None


def _ta_batch():
    ids = torch.tensor([[101, 2003, 2054, 102]])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "fbank": torch.randn(1, 2, 512, 64)}


def test_interpolation_is_identity_on_the_same_grid():
    pos = torch.randn(1, 252, 8)
    assert interpolate_positions(pos, (5, 50), (5, 50)) is pos


def test_unloadable_weights_are_one_clear_error(tmp_path):
    with pytest.raises(hub.WeightsUnavailable, match=r"cannot load vision weights .*random_init=True"):
        create_model("tiny", vision_weights=str(tmp_path))  # an empty directory: no config.json


def test_base_tokenizer_is_served_offline_by_the_identical_packaged_vocab():
    assert hub.tokenizer_source("bert-base-uncased") == str(hub.minilm_dir())
    assert hub.tokenizer_source("bert-base-cased") == "bert-base-cased"  # anything else goes to the hub
    tok = get_tokenizer("base")
    ids = tok("A Dog barks.", padding="max_length", truncation=True)["input_ids"]
    assert len(ids) == 40 and ids[:3] == [101, 1037, 3899]  # [CLS] a dog (uncased)
    assert tok.decode(ids, skip_special_tokens=True) == "a dog barks."


def test_bert_mlm_checkpoint_brings_its_head(tmp_path):
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    source = BertForMaskedLM(cfg)
    with torch.no_grad():
        source.cls.predictions.decoder.bias.normal_()
    source.save_pretrained(tmp_path)
    model = create_model("tiny", text_weights=str(tmp_path), groups=("tv",))
    text = model.text
    torch.testing.assert_close(text.head_bias, source.cls.predictions.decoder.bias)
    torch.testing.assert_close(text.head_transform.dense.weight, source.cls.predictions.transform.dense.weight)
    torch.testing.assert_close(text.word_embeddings.weight, source.bert.embeddings.word_embeddings.weight)
    hidden = torch.randn(2, 5, 32)
    with torch.no_grad():
        torch.testing.assert_close(text.lm_logits(hidden), source.cls(hidden))  # same MLM head


class _Recorder:
    """A stand-in for a transformers class: records each from_pretrained call; the local-only one fails
    (nothing cached), the hub one returns the source."""

    calls: list[dict] = []

    @classmethod
    def from_pretrained(cls, source, **kwargs):
        cls.calls.append(kwargs)
        if kwargs.get("local_files_only"):
            raise OSError(f"{source} is not in the cache")
        return source


def test_an_unreachable_hub_fails_at_once_without_trying_to_download(monkeypatch):
    with socket.socket() as closed:  # a port nobody listens on: the connect is refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(hub.hub_constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(_Recorder, "calls", [])
    start = time.perf_counter()
    with pytest.raises(hub.WeightsUnavailable, match=rf"text weights 'org/model': not cached and 127.0.0.1:{port} is"):
        hub.load_pretrained(_Recorder, "org/model", "text")
    assert time.perf_counter() - start < 2
    assert _Recorder.calls == [{"local_files_only": True}]  # never the retrying download


def test_hub_offline_mode_fails_without_a_connect(monkeypatch):
    monkeypatch.setattr(hub.hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub.socket, "create_connection", pytest.fail)
    with pytest.raises(hub.WeightsUnavailable, match="not cached and HF_HUB_OFFLINE is set"):
        hub.load_pretrained(_Recorder, "org/model", "audio")


@pytest.mark.parametrize("via_proxy", [False, True])
def test_a_reachable_hub_gets_the_real_download(monkeypatch, via_proxy):
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"127.0.0.1:{server.getsockname()[1]}"
        if via_proxy:  # the endpoint itself does not resolve; the proxy the environment names answers
            monkeypatch.setattr(hub.hub_constants, "ENDPOINT", "https://hub.invalid")
            monkeypatch.setenv("HTTPS_PROXY", f"http://{address}")
            monkeypatch.setenv("NO_PROXY", "")
        else:
            monkeypatch.setattr(hub.hub_constants, "ENDPOINT", f"http://{address}")
        monkeypatch.setattr(_Recorder, "calls", [])
        assert hub.load_pretrained(_Recorder, "org/model", "vision", revision="main") == "org/model"
    assert _Recorder.calls == [{"local_files_only": True, "revision": "main"}, {"revision": "main"}]
