"""The challenge server's Starlette application, assembled: the page and API routes, static files, the
web kit's security headers and sessions, and the error pages."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from valor_bench.server import api, pages
from valor_bench.server.routing import HERE, error_response
from valor_bench.server.state import ServerState
from valor_data.web.headers import SecurityHeaders
from valor_data.web.sessions import session_middleware

PRIVATE_PATHS = ("/api/", "/register", "/team", "/host", "/submissions")  # answers never cached


async def _http_error(request: Request, exc) -> Response:
    status = getattr(exc, "status_code", 404)
    detail = getattr(exc, "detail", None) or ("not found" if status == 404 else "error")
    if status == 405:
        detail = "method not allowed"
    return error_response(request, status, str(detail))


async def _server_error(request: Request, exc) -> Response:
    return error_response(request, 500, "internal server error")


def create_app(state: ServerState) -> Starlette:
    routes = [*pages.routes(), *api.routes(), Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders, private_prefixes=PRIVATE_PATHS),
        session_middleware(state.db.session_secret(), "valor_session", state.secure_cookies),
    ], exception_handlers={404: _http_error, 405: _http_error, 500: _server_error})
    app.state.valor = state
    return app
