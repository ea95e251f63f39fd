"""README.md: huggingface_hub parses the card, datasets loads the shards from its configs and features."""

from __future__ import annotations

import fnmatch

import pyarrow.parquet as pq
from datasets import load_dataset
from huggingface_hub import DatasetCard

from valor_data.release.datasheet import TO_WRITE
from valor_data.release.hf_card import size_category
from valor_data.shards.hf import FEATURES


def test_the_hub_parses_the_header(card_template):
    card = DatasetCard.load(card_template / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "other" and data["license_name"] and data["license_link"]
    assert data["size_categories"] == ["n<1K"] and data["annotations_creators"] == ["crowdsourced"]
    assert data["task_categories"] and data["source_datasets"] == ["extended|audioset"]
    [config] = data["configs"]
    [files] = config["data_files"]
    tars = sorted(p.name for p in card_template.glob("*.tar"))
    assert len(tars) == 2 and all(fnmatch.fnmatch(t, files["path"]) for t in tars)
    assert files["split"] == "train"


def test_load_dataset_reads_the_directory_with_the_cards_features(card_template, tmp_path):
    """The header's dataset_info keeps mp4/flac as bytes: no torchcodec needed."""
    ds = load_dataset(str(card_template), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 3 and ds.features == FEATURES
    row = ds[0]
    assert isinstance(row["mp4"], bytes) and row["mp4"][4:8] == b"ftyp" and row["flac"][:4] == b"fLaC"
    assert row["json"]["labels"] and row["txt"] == row["json"]["captions"][0]


def test_webdataset_builder_loads_the_cards_data_files(card_template, tmp_path):
    data = DatasetCard.load(card_template / "README.md").data.to_dict()
    files = {f["split"]: str(card_template / f["path"]) for f in data["configs"][0]["data_files"]}
    ds = load_dataset("webdataset", data_files=files, features=FEATURES, split="train", cache_dir=str(tmp_path / "hf"))
    keys = pq.read_table(card_template / "clips.parquet", columns=["key"]).column("key").to_pylist()
    assert sorted(ds["__key__"]) == sorted(keys) and len(keys) == 3


def test_datasheet_has_every_section_and_marks_the_publishers_parts(card_template):
    text = (card_template / "README.md").read_text()
    sections = ["Motivation", "Composition", "Collection process", "Preprocessing, cleaning, labelling", "Uses",
                "Distribution", "Maintenance"]  # fmt: skip
    positions = [text.index(f"### {name}\n") for name in sections]
    assert positions == sorted(positions)
    assert text.count("<!-- publisher: ") == text.count(f"*{TO_WRITE}: ") >= len(sections) - 1
    assert "3 audiovisual clips in 2 WebDataset tar shards" in text and "@article{chen2023valor" in text


def test_split_option_names_the_hf_split_and_the_license_option_replaces_the_terms(card_dir, cli):
    cli("card", str(card_dir), "--split", "test", "--license", "CC-BY-4.0", "--name", "valor32k-test-mine")
    data = DatasetCard.load(card_dir / "README.md").data.to_dict()
    assert data["configs"][0]["data_files"][0]["split"] == "test" and data["license"] == "cc-by-4.0"
    assert "license_name" not in data and data["pretty_name"] == "valor32k-test-mine"


def test_size_categories_follow_the_hub_buckets():
    assert [size_category(n) for n in (0, 999, 1_000, 32_318, 1_000_000)] == \
        ["n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]
