"""Names vulture (at 60 % confidence) reports as unused that are used where it cannot see, each with why.

Run: ``vulture valor_data valor_bench valor_model vulture_whitelist.py --min-confidence 60``. This file is
only parsed, never imported; append entries below, one per name, grouped by module.
"""
# ruff: noqa: B018

import av.codec.context

from valor_data.fetch import failures, filters, probe, run

# valor_data/fetch
filters.MinDuration  # registered in FILTERS by @register; fetch builds it by name (--filters)
filters.NotSilent  # registered in FILTERS by @register; fetch builds it by name (--filters)
filters.NotFrozen  # registered in FILTERS by @register; fetch builds it by name (--filters)
probe.ProbeFacts.luma  # a measure recorded in the manifest's probe column (asdict in to_dict)
av.codec.context.CodecContext.thread_count  # PyAV setting read by libavcodec when the decoder opens
run.FetchSummary.clips_resumed  # part of fetch's --json summary (asdict in to_dict)
failures.reasons_table  # generates the docs' manifest-status table; test_failures.py keeps the two equal
