"""Where and how tasks run: the serial and process-pool distributors, Spark, and output storage
(local directories or fsspec URLs). Fetch, shard and verify tasks all go through these."""
