"""The web kit both web apps of the toolkit are built on: the challenge server (``valor_bench.server``) and
the annotation campaign. It holds what every route of such an app needs, once:

``errors`` (one-line refusals with an HTTP status), ``tokens`` (random tokens stored hashed, compared in
constant time), ``sessions`` (signed HttpOnly + SameSite cookies, CSRF tokens, login rotation),
``requests`` (bearer tokens, client address, bounded form and JSON bodies), ``uploads`` (a raw body or
multipart, streamed to disk, hashed and size-limited while it arrives), ``ratelimit``, ``headers`` (CSP and the
other security headers), ``render`` (Jinja2 with autoescaping), ``charts`` (SVG bar charts drawn by the kit's ``_chart.html`` macro), ``database`` (SQLite in WAL mode with
``BEGIN IMMEDIATE`` writes, or PostgreSQL through psycopg, from one URL), ``schema`` (versioned
migrations, the settings table, the database clock) and ``leases`` (claiming rows of a work queue
exactly once: ``FOR UPDATE SKIP LOCKED`` / ``BEGIN IMMEDIATE``).

An app assembles its routes and middleware from these in a module of its own. The kit imports nothing
from either app. It needs the web dependencies (Starlette, Jinja2, SQLAlchemy, python-multipart,
psycopg for PostgreSQL): ``pip install 'valor[server]'``.
"""
