"""The challenge server's Starlette application, assembled: the page and API routes, static files, the
web kit's security headers and sessions, and the error pages."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from valor_bench.server import api, pages
from valor_bench.server.routing import HERE, error_response
from valor_bench.server.state import ServerState
from valor_data.web.headers import SecurityHeaders
from valor_data.web.requests import error_handlers
from valor_data.web.sessions import session_middleware

PRIVATE_PATHS = ("/api/", "/register", "/team", "/host", "/submissions")  # answers never cached


def create_app(state: ServerState) -> Starlette:
    routes = [*pages.routes(), *api.routes(), Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders, private_prefixes=PRIVATE_PATHS),
        session_middleware(state.db.session_secret(), "valor_session", state.secure_cookies),
    ], exception_handlers=error_handlers(error_response))
    app.state.valor = state
    return app
