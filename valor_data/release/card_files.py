"""What ``valor-data card`` adds to a shard directory, beside the tars it describes, and its error.

``card`` writes these names and ``verify`` reads them back, so both take them from here.
"""

from __future__ import annotations

CROISSANT_NAME = "croissant.json"  # Croissant 1.1 JSON-LD (mlcroissant loads its records)
README_NAME = "README.md"  # the Hugging Face dataset card, datasheet included
SUMS_NAME = "SHA256SUMS"  # `sha256sum -c SHA256SUMS` checks the tars
AVAILABILITY_NAME = "availability.txt"  # the clips the shards hold, for `valor-bench ... --available`
CLIPS_NAME = "clips.parquet"  # one row per sample: the table the Croissant RecordSets join the media to
CARD_NAMES = (CROISSANT_NAME, README_NAME, SUMS_NAME, AVAILABILITY_NAME, CLIPS_NAME)


class CardError(Exception):
    """A shard directory or card option the card cannot use; the message is one line for the user."""
