"""The shards read as they are by webdataset and by Hugging Face datasets (media kept as bytes)."""

from __future__ import annotations

import hashlib
import io
import json

import av
import pyarrow.parquet as pq


def _ok_keys(shard_dir) -> list[str]:
    return sorted(r["key"] for r in pq.read_table(shard_dir / "manifest.parquet").to_pylist() if r["status"] == "ok")


def test_webdataset_reads_keys_and_decodes_members(sharded_template):
    import webdataset as wds

    urls = [str(p) for p in sorted(sharded_template.glob("*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode())
    assert [s["__key__"] for s in samples] == _ok_keys(sharded_template)
    for s in samples:
        assert isinstance(s["json"], dict) and s["json"]["key"] == s["__key__"]
        assert isinstance(s["txt"], str) and s["txt"] == (s["json"]["captions"] or [""])[0]
        assert hashlib.sha256(s["mp4"]).hexdigest() == s["json"]["sha256"]["mp4"]
    with av.open(io.BytesIO(samples[0]["mp4"])) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (128, 96)
    with av.open(io.BytesIO(samples[0]["flac"])) as c:
        assert c.streams.audio[0].sample_rate == 16000 and c.streams.audio[0].channels == 1


def test_hf_datasets_reads_with_the_shipped_features(sharded_template, tmp_path):
    from datasets import load_dataset

    from valor_data.shards.hf import FEATURES, load_hf, shard_files

    files = shard_files(sharded_template)
    ds = load_dataset("webdataset", data_files={"train": files}, features=FEATURES, split="train",
                      cache_dir=str(tmp_path / "hf"))  # fmt: skip
    assert ds.num_rows == 7 and ds["__key__"] == _ok_keys(sharded_template)
    row = ds[ds["__key__"].index("a_b_c_d_e_f_1500_11500")]
    assert row["json"]["labels"] == [{"mid": "/m/09x0r", "name": "Speech"}, {"mid": "/m/0jbk", "name": "Animal"}]
    assert row["json"]["captions"] == ["a dog barks", "a dog barks twice at night"] and row["txt"] == "a dog barks"
    probe = row["json"]["probe"]
    assert (probe["output"]["sample_rate"], probe["acodec"], probe["has_audio"]) == (16000, "aac", True)
    assert isinstance(row["mp4"], bytes) and hashlib.sha256(row["flac"]).hexdigest() == row["json"]["sha256"]["flac"]
    # The helper gives the same rows.
    again = load_hf(sharded_template, cache_dir=str(tmp_path / "hf2"))
    assert again["__key__"] == ds["__key__"] and json.dumps(again[0]["json"]) == json.dumps(ds[0]["json"])
