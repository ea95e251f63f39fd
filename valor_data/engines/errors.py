"""How running tasks fails, for every distributor: the callers (fetch, shard, verify) catch these two
without knowing which distributor ran their tasks."""


class DistributorUnavailable(RuntimeError):
    """The distributor cannot run here (pyspark or Java missing, Spark failed to start): one line saying why."""


class TaskFailed(RuntimeError):
    """A task failed on every attempt the distributor gave it (the finished tasks are kept: rerun to resume)."""
