"""What the publisher tells ``valor-data card`` (everything else is measured from the shard directory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from valor_data.release.terms import DEFAULT_LICENSE


@dataclass(frozen=True)
class CardOptions:
    name: str | None = None  # the dataset's name; default: the directory's name
    description: str | None = None  # one paragraph; default: what the toolkit knows it is
    license: str = DEFAULT_LICENSE  # a Hugging Face licence id (SPDX, lower case) or "other" (the VALOR terms)
    version: str = "1.0.0"
    split: str | None = None  # the split of every clip; default: its official VALOR-32K split, if any
    base_url: str | None = None  # where the tars will be downloadable; default: beside croissant.json
    provenance: Path | None = None  # the annotation campaign's provenance parquet, summarised when given

    def file_url(self, name: str) -> str:
        """A file's contentUrl: relative (beside croissant.json) unless a base URL is given."""
        return f"{self.base_url.rstrip('/')}/{name}" if self.base_url else name
