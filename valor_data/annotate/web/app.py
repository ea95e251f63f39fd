"""The campaign's Starlette application, assembled: pages, the JSON API, clip media, static files, the web
kit's security headers and sessions, and the error pages.

The Content-Security-Policy lets the page's own script (live hints, keyboard shortcuts) and the clip
media from this origin in, and nothing else: no inline script, so a caption that smuggles markup past the
autoescaping still runs nothing.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from valor_data.annotate.state import Campaign
from valor_data.annotate.web import api, dashboard, pages
from valor_data.annotate.web.routing import HERE, WebState, error_response
from valor_data.web.headers import SecurityHeaders
from valor_data.web.requests import error_handlers
from valor_data.web.sessions import session_middleware

CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; media-src 'self'; style-src 'self'; "
       "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PRIVATE_PATHS = ("/api/", "/join", "/write", "/review", "/training", "/feedback", "/problems", "/host",
                 "/audit", "/dashboard")  # answers never cached


def create_app(campaign: Campaign, secure_cookies: bool = False) -> Starlette:
    """The app serving ``campaign``; ``secure_cookies``: behind TLS (session cookie sent over HTTPS only)."""
    state = WebState(campaign)
    routes = [*pages.routes(), *api.routes(), *dashboard.routes(),
              Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders, csp=CSP, private_prefixes=PRIVATE_PATHS),
        session_middleware(campaign.db.session_secret(), "valor_annotate", secure_cookies),
    ], exception_handlers=error_handlers(error_response))
    app.state.annotate = state
    return app
