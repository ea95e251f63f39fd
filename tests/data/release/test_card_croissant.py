"""croissant.json: mlcroissant validates it and loads the records from the real tars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from valor_data.clip import Status
from valor_data.fetch.filters import FILTERS

# Run in a child: mlcroissant fixes its cache folder ($CROISSANT_CACHE) when imported.
LOAD = """
import json, sys
import mlcroissant as mlc
ds = mlc.Dataset(sys.argv[1])
out = {"rai": {"collection": ds.metadata.data_collection, "missing": ds.metadata.data_collection_missing_data,
               "timeframe": [d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in ds.metadata.data_collection_timeframe or []],
               "preprocessing": ds.metadata.data_preprocessing_protocol,
               "limitations": ds.metadata.data_limitations, "analysis": ds.metadata.data_annotation_analysis},
       "cite": ds.metadata.cite_as, "license": ds.metadata.license}
for name in ("clips", "audio"):
    out[name] = [{k.split("/")[1]: (v.hex() if k.endswith(("video", "audio")) else
                                    [x.decode() for x in v] if isinstance(v, list) else
                                    v.decode() if isinstance(v, bytes) else v) for k, v in r.items()}
                 for r in ds.records(name)]
print(json.dumps(out))
"""


def load_records(jsonld, cache) -> dict:
    env = {**os.environ, "CROISSANT_CACHE": str(cache)}
    res = subprocess.run([sys.executable, "-c", LOAD, str(jsonld)], capture_output=True, text=True, env=env,
                         timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def members(shard_dir) -> dict[str, bytes]:
    found = {}
    for tar_path in sorted(shard_dir.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for info in tar:
                found[info.name] = tar.extractfile(info).read()
    return found


def test_mlcroissant_validate_passes(card_template, tmp_path):
    env = {**os.environ, "CROISSANT_CACHE": str(tmp_path / "cache")}
    exe = Path(sys.executable).parent / "mlcroissant"  # the venv's console script, whatever PATH holds
    res = subprocess.run([str(exe), "validate", "--jsonld", str(card_template / "croissant.json")],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Found the following" not in res.stdout + res.stderr  # mlcroissant's header for errors and warnings


def test_mlcroissant_loads_every_clip_from_the_tars(card_template, card_clips, tmp_path):
    got = load_records(card_template / "croissant.json", tmp_path / "cache")
    media = members(card_template)
    clips = {r["key"]: r for r in got["clips"]}
    table = {r["key"]: r for r in pq.read_table(card_template / "clips.parquet").to_pylist()}
    assert set(clips) == set(table) and len(clips) == 3
    for key, record in clips.items():
        meta = json.loads(media[f"{key}.json"])
        assert bytes.fromhex(record["video"]) == media[f"{key}.mp4"]
        assert record["clip_id"] == meta["clip_id"] and record["clip_id"] in card_clips
        assert record["captions"] == meta["captions"] == [f"a caption of {meta['clip_id']}", "a second caption"]
        assert record["labels"] == [label["mid"] for label in meta["labels"]] and record["labels"]
        assert record["label_names"] == [label["name"] for label in meta["labels"]]
        assert record["split"] == "test"  # the clips are official VALOR-32K test clips
        assert record["shard"] in {p.name for p in card_template.glob("*.tar")}
        assert (record["start"], record["end"]) == (meta["start"], meta["end"])
    audio = {r["key"]: r for r in got["audio"]}
    assert set(audio) == set(clips)
    assert all(bytes.fromhex(r["audio"]) == media[f"{k}.flac"] for k, r in audio.items())
    assert "chen2023valor" in got["cite"] and "creativecommons.org/licenses/by/4.0" in " ".join(got["license"])


def test_responsible_ai_fields_state_the_measured_facts(card_template, tmp_path):
    rai = load_records(card_template / "croissant.json", tmp_path / "cache")["rai"]
    done = sorted(p.stat().st_mtime for p in (card_template.parent / "fetch" / "_tasks").glob("*.parquet"))
    first, last = (datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for t in (done[0], done[-1]))
    assert sorted(rai["timeframe"]) == sorted({first, last})  # JSON-LD keeps one of two equal times
    assert "6 input clips, 3 fetched, 3 in the shards" in rai["collection"] and "local copy" in rai["collection"]
    assert "3 of 6 input clips are not in the shards" in rai["missing"]
    for status in ("no_audio 1", "silent 1", "unavailable 1"):
        assert status in rai["missing"]
    filters = next(p for p in rai["preprocessing"] if p.startswith("Filters"))
    assert "has_audio 1" in filters and "not_silent 1" in filters and "not_frozen 0" in filters
    assert "VALOR-32K test: 3 of its 3,491 clips are here" in " ".join(rai["limitations"])
    assert rai["analysis"] is None  # no provenance table given


def test_provenance_table_is_summarised(card_dir, card_clips, cli, tmp_path):
    prov = tmp_path / "provenance.parquet"
    pq.write_table(pa.table({"clip_id": list(card_clips)[:3], "agreement": [0.5, 0.75, 1.0]}), prov)
    cli("card", str(card_dir), "--provenance", str(prov))
    doc = json.loads((card_dir / "croissant.json").read_text())
    assert doc["rai:dataAnnotationAnalysis"].endswith("(3 rows; columns clip_id, agreement): agreement mean 0.75.")
    assert "provenance table" in doc["rai:dataAnnotationProtocol"]


def test_base_url_makes_absolute_content_urls(card_dir, cli):
    cli("card", str(card_dir), "--base-url", "https://huggingface.co/datasets/org/valor/resolve/main/")
    doc = json.loads((card_dir / "croissant.json").read_text())
    urls = [d["contentUrl"] for d in doc["distribution"] if "contentUrl" in d]
    assert urls and all(u.startswith("https://huggingface.co/datasets/org/valor/resolve/main/") for u in urls)
    assert "https://huggingface.co/datasets/org/valor/resolve/main/valor-000000.tar" in urls


def test_every_fetch_filter_declares_the_statuses_it_rejects_with():
    assert all(FILTERS[name].statuses for name in FILTERS)
    assert FILTERS["not_frozen"].statuses == (Status.BLACK, Status.FROZEN)
