"""Stage 2, ``valor-data shard`` / ``verify``: fetched clips -> WebDataset tars, index and stats.

``write`` packs the tars (deterministic bytes, resumable per shard), ``verify`` checks a shard directory
end to end, ``hf`` reads the shards with Hugging Face ``datasets``.
"""

from valor_data.shards.write import ShardOptions, run_shard

__all__ = ["ShardOptions", "run_shard"]
