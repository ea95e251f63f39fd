"""The campaign dashboard: ``/dashboard`` (SVG charts drawn by the web kit, no JavaScript) and
``GET /api/v1/dashboard`` (the same figures as JSON), from ``valor_data.annotate.stats``.

Everyone logged in sees the campaign's figures; the rows about named people (captions per annotator-hour,
each reviewer's agreement and the accepts-everything flag) are the host's alone. The figures are computed
at most once per ``CACHE_SECONDS``: at VALOR-1M scale a host refreshing the page must not load the database.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from valor_data.annotate.people import User
from valor_data.annotate.states import Role
from valor_data.annotate.stats import Dashboard, TextFigures, collect, dashboard
from valor_data.annotate.web.routing import ANYONE, WebState, endpoint, render
from valor_data.web.charts import Chart, Row, bar_chart

CACHE_SECONDS = 10.0
_lock = threading.Lock()


def figures(request: Request, state: WebState) -> Dashboard:
    """The campaign's dashboard, kept on the app and recomputed when older than CACHE_SECONDS."""
    with _lock:
        hit: tuple[float, Dashboard] | None = getattr(request.app.state, "dashboard", None)
        if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
            hit = (time.monotonic(), dashboard(collect(state.campaign)))
            request.app.state.dashboard = hit
        return hit[1]


def for_viewer(d: Dashboard, user: User) -> Dashboard:
    """What ``user`` may see: the host everything, others the campaign's figures without named people."""
    return d if user.role == Role.HOST else replace(d, authors=[], reviewers=[])


def _histogram(title: str, ours: TextFigures, reference: TextFigures, attr: str) -> Chart:
    rows = []
    for mine, ref in zip(getattr(ours, attr), getattr(reference, attr), strict=True):
        rows += [Row(f"{mine.label} · campaign", mine.share, mine.count),
                 Row(f"{ref.label} · VALOR-32K", ref.share, ref.count, "ref")]
    return bar_chart(title, rows, "% of captions", "{:.1f} %", scale_max=100.0)


def charts(d: Dashboard) -> list[Chart]:
    """Every chart of the page, in reading order; a chart with nothing to show is left out."""
    out = []
    progress = [Row(f"{stage} · {state}", n, n) for stage, states in d.progress.items()
                for state, n in sorted(states.items())]
    if progress:
        out.append(bar_chart("Clips per stage and state", progress, "clips", "{:,.0f}"))
    acceptance = [Row(stage, 100 * a.rate, a.judged) for stage, a in d.acceptance.items() if a.rate is not None]
    if acceptance:
        out.append(bar_chart("Captions accepted (% of those judged)", acceptance, "%", "{:.1f} %", 100.0))
    reasons = [Row(f"{reason} · {stage}", n, n) for stage, rs in d.reasons.items() for reason, n in rs]
    if reasons:
        out.append(bar_chart("Rejection reasons", reasons, "rejects", "{:,.0f}"))
    if d.rounds:
        out.append(bar_chart("Rounds an accepted clip took", [Row(f"{r} round{'s' if r > 1 else ''}", n, n)
                                                              for r, n in d.rounds], "clips", "{:,.0f}"))
    seconds = [Row(f"{stage} (median)", s["median"], int(s["n"])) for stage, s in d.seconds.items()
               if s["median"] is not None]
    if seconds:
        out.append(bar_chart("Seconds of writing per caption", seconds, "seconds", "{:.0f} s"))
    if d.authors:
        out.append(bar_chart("Captions per annotator-hour", [Row(a.author, a.per_hour or 0.0, a.captions)
                                                             for a in d.authors[:40]], "captions/hour", "{:.1f}"))
    if d.reviewers:
        out.append(bar_chart("Agreement with the other reviewers' majority",
                             [Row(r.reviewer, 100 * r.agreement, r.compared, "flag" if r.accepts_everything else "bar")
                              for r in d.reviewers[:40] if r.agreement is not None], "%", "{:.0f} %", 100.0))
    if d.text.captions:
        out.append(_histogram(f"Caption length: campaign {d.text.avg_len:.1f} words, VALOR-32K "
                              f"{d.reference.avg_len:.1f} (paper {d.paper_reference['avg_len']})",
                              d.text, d.reference, "length_bins"))
        out.append(_histogram(f"Audio concept density: campaign {d.text.acd:.1f} %, VALOR-32K "
                              f"{d.reference.acd:.1f} % (paper {d.paper_reference['acd']})",
                              d.text, d.reference, "acd_bins"))
    return out


@endpoint(roles=ANYONE)
def dashboard_page(request: Request, state: WebState, user: User, _data) -> Response:
    d = for_viewer(figures(request, state), user)
    return render(request, "dashboard.html", d=d, charts=charts(d))


@endpoint(roles=ANYONE)
def dashboard_json(request: Request, state: WebState, user: User, _data) -> Response:
    return JSONResponse(for_viewer(figures(request, state), user).to_json())


def routes() -> list[Route]:
    return [Route("/dashboard", dashboard_page), Route("/api/v1/dashboard", dashboard_json)]
