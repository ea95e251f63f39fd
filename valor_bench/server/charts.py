"""Bar charts as server-rendered SVG: the geometry is computed here, the markup is a Jinja macro
(``templates/_chart.html``), so every label passes through autoescaping like the rest of the page.
No JavaScript, no chart library: a chart is a few rectangles and texts that any browser draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from valor_bench.metrics import MAIN_METRIC, metric_info

ROW_H, LABEL_W, BAR_W, VALUE_W, PAD = 22, 280, 360, 120, 8


@dataclass(frozen=True)
class Bar:
    y: int
    width: float
    label: str
    value: str
    n: int


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


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def breakdown_charts(task: str, breakdown: dict | None) -> list[Chart]:
    """One chart of the main metric per AudioSet top-level category, one for the most frequent labels."""
    if not breakdown:
        return []
    direction, metric = MAIN_METRIC[task]
    scale_cap = 100.0 if metric.startswith("R@") else None
    charts = []
    for key, label_key, title in (("top_level", "category", "by AudioSet top-level category"),
                                  ("labels", "name", "by AudioSet label (most frequent)")):
        rows = [r for r in breakdown.get(key) or [] if isinstance(r.get(metric), int | float)]
        if not rows:
            continue
        scale = scale_cap or _nice_max(max(float(r[metric]) for r in rows))
        bars = [Bar(PAD + 18 + i * ROW_H, BAR_W * max(0.0, min(1.0, float(r[metric]) / scale)),
                    str(r.get(label_key, "?")), f"{float(r[metric]):.2f}", int(r.get("n", 0)))
                for i, r in enumerate(rows)]
        arrow = metric_info(task, metric).arrow
        what = f"{direction} {metric}" if direction else metric
        charts.append(Chart(f"{what} {arrow} {title}", what, LABEL_W + BAR_W + VALUE_W,
                            PAD * 2 + 18 + ROW_H * len(bars) + 14, LABEL_W, BAR_W, scale, bars))
    return charts
