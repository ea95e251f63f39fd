"""Server-rendered pages: Jinja2 with autoescaping on and undefined names an error, so every value a person
typed reaches the page as text and a template typo fails loudly instead of printing nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from valor_data.web.sessions import csrf_token

KIT_TEMPLATES = Path(__file__).resolve().parent / "templates"


def templates_in(directory: Path, filters: dict[str, Callable] | None = None, **globals: object) -> Jinja2Templates:
    """The templates of ``directory``, then the kit's own (``_chart.html``), with ``filters`` and ``globals``
    available to all of them."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([directory, KIT_TEMPLATES]), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(filters or {})
    env.globals.update(globals)
    return Jinja2Templates(env=env)


def render(templates: Jinja2Templates, request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    """Template ``name`` with ``context`` and the session's CSRF token (``csrf``) for its forms."""
    return templates.TemplateResponse(request, name, {"csrf": csrf_token(request), **context}, status_code=status)


def plain_error(message: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The error page when no template can be rendered (e.g. refused before the session was read)."""
    return HTMLResponse(f"<p>{escape(message)}</p>", status_code=status, headers=headers)
