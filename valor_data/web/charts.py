"""Bar charts as server-rendered SVG: the geometry is computed here, the markup is a Jinja macro
(``templates/_chart.html``, on every app's template path through ``render.templates_in``), so every label
passes through autoescaping like the rest of the page. No JavaScript, no chart library: a chart is a few
rectangles and texts that any browser draws. A bar's ``kind`` is its CSS class, so two series (a campaign
against a reference set) can share one chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ROW_H, LABEL_W, BAR_W, VALUE_W, PAD = 22, 280, 360, 120, 8


@dataclass(frozen=True)
class Bar:
    y: int
    width: float
    label: str
    value: str
    n: int
    kind: str = "bar"


@dataclass(frozen=True)
class Chart:
    title: str
    metric: str
    width: int
    height: int
    label_w: int
    bar_w: int
    scale_max: float
    bars: list[Bar]

    @property
    def ticks(self) -> list[tuple[float, str]]:
        return [(self.label_w + self.bar_w * f, f"{self.scale_max * f:g}") for f in (0, 0.25, 0.5, 0.75, 1)]


@dataclass(frozen=True)
class Row:
    """One bar before layout: its label, its value, how many items it stands for, its CSS class."""

    label: str
    value: float
    n: int
    kind: str = "bar"


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``: round tick labels."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_chart(title: str, rows: Sequence[Row], metric: str = "", value_format: str = "{:.2f}",
              scale_max: float | None = None) -> Chart:
    """Horizontal bars, one per row, on a scale of ``scale_max`` (else a round number above the largest)."""
    scale = scale_max or nice_max(max((float(r.value) for r in rows), default=0.0))
    bars = [Bar(PAD + 18 + i * ROW_H, BAR_W * max(0.0, min(1.0, float(r.value) / scale)), r.label,
                value_format.format(r.value), r.n, r.kind) for i, r in enumerate(rows)]
    return Chart(title, metric or title, LABEL_W + BAR_W + VALUE_W, PAD * 2 + 18 + ROW_H * len(bars) + 14,
                 LABEL_W, BAR_W, scale, bars)
