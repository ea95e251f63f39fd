"""``valor-bench serve``: a hosted AVR/AVC challenge server (teams, tokens, phases, a durable queue of
evaluations run by worker processes, leaderboards as pages, CSV and a JSON API), built on the web kit
``valor_data.web`` (sessions, CSRF, tokens, rate limits, uploads, database, leases).

Modules: ``config`` (challenge.yaml), ``statuses`` (the enums), ``schema`` (tables, migrations),
``queue`` (evaluation leases), ``worker`` (scoring with the valor-bench library), ``store`` (uploads by
content hash), ``security`` (upload checks, scrubbing), ``limits``, ``teams``, ``submissions``, ``board``,
``host``, ``state``, ``routing`` (how every route starts), ``access`` (shared route helpers and
the upload route), ``pages`` + ``api`` (the routes), ``app`` (the assembled application), ``supervisor``
(serve = web + workers). Needs the ``server`` extra: ``pip install 'valor[server]'``.
"""
