"""Stage 2, ``valor-data shard`` / ``verify``: fetched clips -> WebDataset tars, index and stats.

``run`` reads the fetch output (``inputs``), plans the shards (``plan``, checked against ``config`` on a
rerun), runs one shard task per tar (``task``, writing the bytes with ``tar``), then writes the index,
stats and final manifest (``outputs``); ``layout`` names what SHARDDIR holds and ``samples`` reads its
samples in place (member byte ranges, json members). ``verify`` checks a shard directory end to end, ``hf``
reads the shards with Hugging Face ``datasets``.
"""

from valor_data.shards.plan import ShardOptions
from valor_data.shards.run import run_shard

__all__ = ["ShardOptions", "run_shard"]
