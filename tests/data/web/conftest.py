"""Fixtures for the web kit's own tests: a tiny Starlette app assembled from the kit alone (no valor_bench),
and a database URL on SQLite or on the throwaway PostgreSQL of ``tests/conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from valor_data.web.errors import HttpError
from valor_data.web.headers import SecurityHeaders
from valor_data.web.ratelimit import RateLimiter
from valor_data.web.render import render, templates_in
from valor_data.web.requests import client_address, read_form, read_json
from valor_data.web.sessions import session_middleware, start_session
from valor_data.web.uploads import receive_upload

FORM = '<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf }}">{{ note }}</form>'
RATE = 3
MAX_UPLOAD = 1024 * 1024


def build_app(directory: Path, secure: bool = False) -> Starlette:
    """Pages with a CSRF-checked form, a login, a rate-limited route, a JSON route and two upload routes (a
    form only; a form or the raw body)."""
    (directory / "templates").mkdir(parents=True, exist_ok=True)
    (directory / "templates" / "form.html").write_text(FORM)
    (directory / "incoming").mkdir(exist_ok=True)
    templates = templates_in(directory / "templates")
    limiter = RateLimiter(RATE, 60)

    def refusing(fn):
        async def route(request: Request) -> Response:
            try:
                return await fn(request)
            except HttpError as e:
                return JSONResponse({"error": e.message}, status_code=e.status, headers=e.headers)
        return route

    async def form_page(request: Request) -> Response:
        return render(templates, request, "form.html", note=request.query_params.get("note", ""))

    async def form_post(request: Request) -> Response:
        return JSONResponse(await read_form(request, 4096))

    async def login(request: Request) -> Response:
        start_session(request, user=request.query_params["user"])
        return JSONResponse({"user": request.session["user"]})

    async def limited(request: Request) -> Response:
        limiter.enforce(f"addr:{client_address(request)}")
        return JSONResponse({"ok": True})

    async def json_post(request: Request) -> Response:
        return JSONResponse(await read_json(request, 1024, 3))

    def receiving(raw: bool):
        async def upload(request: Request) -> Response:
            up = await receive_upload(request, directory / "incoming", MAX_UPLOAD, raw=raw)
            return JSONResponse({"fields": up.fields, "filename": up.filename, "size": up.size,
                                 "sha256": up.sha256, "path": str(up.path)})
        return upload

    routes = [Route("/form", refusing(form_page)), Route("/form", refusing(form_post), methods=["POST"]),
              Route("/login", refusing(login), methods=["POST"]), Route("/limited", refusing(limited)),
              Route("/json", refusing(json_post), methods=["POST"]),
              Route("/upload", refusing(receiving(raw=False)), methods=["POST"]),
              Route("/upload-raw", refusing(receiving(raw=True)), methods=["POST"])]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders, private_prefixes=("/form",)),
                                                session_middleware("k" * 48, "kit_session", secure)])


@pytest.fixture
def make_kit(tmp_path):
    """A TestClient on a fresh kit app; ``secure=True``: cookies for HTTPS only."""

    def make(secure: bool = False) -> TestClient:
        directory = tmp_path / ("secure" if secure else "plain")
        return TestClient(build_app(directory, secure), base_url="https://testserver" if secure else "http://testserver")

    return make


@pytest.fixture
def kit(make_kit) -> TestClient:
    return make_kit()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kit.sqlite'}"
    return request.getfixturevalue("postgres_url")
