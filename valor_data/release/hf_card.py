"""``README.md``: the Hugging Face dataset card (YAML header + body) with the datasheet.

The header's ``configs`` points the ``webdataset`` builder at the tars and its ``dataset_info`` carries
:data:`valor_data.shards.hf.FEATURES`, so ``datasets.load_dataset(SHARDDIR or hub id)`` keeps the media as
bytes instead of decoding them through torchcodec (which does not load against every torch build).
"""

from __future__ import annotations

import re

from datasets import DatasetInfo
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCardData

from valor_data.release.card_files import AVAILABILITY_NAME, CROISSANT_NAME, SUMS_NAME
from valor_data.release.card_options import CardOptions
from valor_data.release.datasheet import datasheet
from valor_data.release.facts import ShardFacts
from valor_data.release.terms import CITATION, DEFAULT_LICENSE, LICENSE_NAME, LICENSE_TEXT, LICENSE_URL
from valor_data.shards.hf import FEATURES

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"))


def size_category(n: int) -> str:
    """Hugging Face's size bucket for ``n`` samples."""
    return next((label for bound, label in _SIZES if n < bound), "10M<n<100M")


def card_data(f: ShardFacts, options: CardOptions) -> DatasetCardData:
    """The YAML header."""
    pattern = f"{f.tars[0].name.rsplit('-', 1)[0]}-*.tar" if f.tars else "*.tar"
    terms = {"license_name": LICENSE_NAME, "license_link": LICENSE_URL} if options.license == DEFAULT_LICENSE else {}
    data = DatasetCardData(
        pretty_name=f.name,
        license=options.license,
        language=["en"],
        task_categories=["video-text-to-text", "text-to-video", "audio-classification"],
        size_categories=[size_category(f.samples)],
        annotations_creators=["crowdsourced"] if f.captions else ["no-annotation"],
        source_datasets=["extended|audioset"],
        tags=["audiovisual", "webdataset", "croissant", "valor"],
        configs=[{"config_name": "default",
                  "data_files": [{"split": options.split or "train", "path": pattern}]}],
        **terms,
    )
    DatasetInfosDict({"default": DatasetInfo(features=FEATURES)}).to_dataset_card_data(data)
    return data


def card_text(f: ShardFacts, options: CardOptions) -> str:
    """The whole README.md: header, how to load it, the datasheet, the citation."""
    split = options.split or "train"
    body = f"""# {f.name}

{options.description or ""}

{f.samples:,} clips with video (`.mp4`), audio (`.flac`), captions and AudioSet labels (`.json`, `.txt`) in
{len(f.tars):,} WebDataset tar shards, written by the `valor` toolkit (`valor-data shard`, `valor-data card`).
`{CROISSANT_NAME}` describes the same files in Croissant 1.1 (with the Responsible-AI fields),
`{SUMS_NAME}` their hashes and `{AVAILABILITY_NAME}` the clips they hold.

## Loading

```python
from datasets import load_dataset
ds = load_dataset("path/or/hub-id", split="{split}")  # media stay bytes: decode with PyAV or soundfile
```

```python
import mlcroissant as mlc
clips = mlc.Dataset("{CROISSANT_NAME}").records("clips")  # key, ids, captions, labels, video bytes
```

With webdataset: `webdataset.WebDataset("{f.tars[0].name.rsplit('-', 1)[0]}-{{000000..{len(f.tars) - 1:06d}}}.tar")`.

{datasheet(f, LICENSE_TEXT if options.license == DEFAULT_LICENSE else f"Licence: {options.license}.")}
## Citation

```bibtex
{CITATION}
```
"""
    return f"---\n{card_data(f, options).to_yaml()}\n---\n\n" + re.sub(r"\n{3,}", "\n\n", body)

