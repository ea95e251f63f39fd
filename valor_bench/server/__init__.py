"""``valor-bench serve``: a hosted AVR/AVC challenge server (teams, tokens, phases, a durable queue of
evaluations run by worker processes, leaderboards as pages, CSV and a JSON API).

Modules: ``config`` (challenge.yaml), ``schema`` + ``db`` (tables, migrations, SQLite/PostgreSQL),
``queue`` (leases), ``worker`` (scoring with the valor-bench library), ``store`` (uploads by content
hash), ``uploads`` (streamed multipart), ``security`` (tokens, upload checks, rate limit), ``limits``,
``teams``, ``submissions``, ``board``, ``charts``, ``host``, ``state``, ``app`` + ``access`` + ``pages`` +
``api``
(the Starlette application), ``supervisor`` (serve = web + workers), ``client`` (submit --server),
``example`` (challenge init). Needs the ``server`` extra: ``pip install 'valor[server]'``.
"""
