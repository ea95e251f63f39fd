"""Names vulture (60 % confidence) reports as unused that are used, each with where from.

vulture reads this file as code that uses the names (it matches names, not objects); it is never imported.
"""
# ruff: noqa: B018 (each line is an expression that names one used attribute)

_ = None

# Called by frameworks, not by our code.
_.forward  # torch nn.Module: run through Module.__call__ (valor_model towers, model, loss)
_.row_factory  # sqlite3.Connection attribute read by sqlite3 itself (valor_bench/leaderboard.py)
_.thread_type  # PyAV codec-context attribute read by the decoder (valor_model/data.py)
_.model_max_length  # transformers tokenizer attribute read by the tokenizer (valor_model/factory.py)
_.add_cross_attention  # transformers BertConfig attribute read by BertModel (valor_model/text.py)
_.server_version  # http.server handler attributes and hooks (valor_data/synthetic/mirror.py)
_.protocol_version
_.log_message
_.do_GET
_.do_HEAD
_.daemon_threads  # socketserver.ThreadingMixIn attribute (mirror.py)
_.refresh  # tqdm's set_postfix(refresh=) keyword: valor_data/progress.py's bars stand in for tqdm's

_._on_connect  # SQLAlchemy event listeners (valor_data/web/database.py): called by the engine
_._on_begin
_.isolation_level  # sqlite3 connection attribute set for SQLAlchemy's BEGIN handling (valor_data/web/database.py)
_.init  # click command `valor-bench challenge init` (valor_bench/commands/challenge.py)
_.ticks  # valor_data/web/charts.py: read by the SVG chart macro

# Fields and functions of the public Python API, read by callers outside the packages.
_.concept  # valor_data.captions.acd.Match.concept: what ConceptMatcher.match found
_.method  # valor_data.synthetic.mirror.RequestLog.method: what a test asks the mirror's log
_.acd_of  # valor_data.captions.acd: ACD of captions with a named preset in one call
_.count_table  # valor_data.captions.concepts: the split-mode figures of its docstring (tests check them)
_.wait_until_up  # valor_bench.remote: wait for a server to answer (tests, benchmarks/server_load.py)
_.from_array  # valor_bench.formats.SimMatrix: an in-memory matrix (tests, benchmarks/eval_speed.py)
_.modality_ceilings  # valor_data.synthetic.av_task: chance R@1 per modality (benchmarks/synthetic_av.py)

# Synthetic test material (valor_data/synthetic/): made for the tests that use it.
_.FAST_MATRIX  # encodings.py: tests/data/fetch/test_encodings.py
_.source_files
_.matrix_ytid
_.reference_files
_.clock_problems
_.requests_for  # mirror.py: tests/data/fetch/test_mirror.py, test_fetch_mirror.py

# valor_data/fetch
_.MinDuration  # registered in FILTERS by @register; fetch builds it by name (--filters)
_.NotSilent  # registered in FILTERS by @register; fetch builds it by name (--filters)
_.NotFrozen  # registered in FILTERS by @register; fetch builds it by name (--filters)
_.luma  # fetch.probe.ProbeFacts.luma: a measure recorded in the manifest's probe column (asdict in to_dict)
_.thread_count  # PyAV codec-context setting read by libavcodec when the decoder opens
_.clips_resumed  # fetch.run.FetchSummary: part of fetch's --json summary (asdict in to_dict)
_.reasons_table  # fetch.failures: generates the docs' manifest-status table; test_failures.py keeps the two equal

# valor_data.annotate's core: called by the campaign's CLI, or only by its tests.
_.list_people  # who joined, in order: tests/data/annotate (the host page needs more: web/views.people)
_.import_  # click command `valor-data annotate import` (valor_data/commands/annotate.py)

# valor_data.annotate dashboard figures: fields read by templates/dashboard.html and GET /api/v1/dashboard (asdict)
_.accept_share
_.accepted_others_rejected
_.length_bins
_.hours
_.accept_verdicts
_.median_seconds
_.captions_per_hour
_.kappa_panels
# valor_data.annotate.simulate: the load benchmark and the durability tests drive a server with these
_.work_until
_.actions
