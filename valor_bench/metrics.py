"""Every metric the benchmarks report, defined once: name, direction, what it means.

The leaderboard, the human tables and the JSON output all read these definitions, so a metric's
direction (``higher_is_better``) and the main ranking metric of each task cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import metadata

TASKS = ("avr", "avc")
DIRECTIONS = ("t2v", "v2t")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    description: str

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


AVC_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("BLEU-1", True, "pycocoevalcap Bleu(4), 1-gram, corpus level, x100"),
    MetricInfo("BLEU-2", True, "pycocoevalcap Bleu(4), 2-gram, corpus level, x100"),
    MetricInfo("BLEU-3", True, "pycocoevalcap Bleu(4), 3-gram, corpus level, x100"),
    MetricInfo("BLEU-4", True, "pycocoevalcap Bleu(4), 4-gram, corpus level, x100"),
    MetricInfo("METEOR", True, "pycocoevalcap Meteor (METEOR 1.5, Java), corpus level, x100"),
    MetricInfo("ROUGE-L", True, "pycocoevalcap Rouge, mean over clips, x100"),
    MetricInfo("CIDEr", True, "pycocoevalcap Cider (CIDEr-D, IDF over the whole split), x100"),
    MetricInfo("SPICE", True, "pycocoevalcap Spice (needs Stanford CoreNLP 3.6.0 jars), x100"),
)
AVR_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("R@1", True, "% of queries whose target is ranked first"),
    MetricInfo("R@5", True, "% of queries whose target is in the top 5"),
    MetricInfo("R@10", True, "% of queries whose target is in the top 10"),
    MetricInfo("MdR", False, "median rank of the target (1 = best)"),
    MetricInfo("MnR", False, "mean rank of the target (1 = best)"),
)
METRICS: dict[str, dict[str, MetricInfo]] = {
    "avc": {m.name: m for m in AVC_METRICS},
    "avr": {m.name: m for m in AVR_METRICS},
}
# The metric each leaderboard is ranked by: (direction or None, metric name).
MAIN_METRIC: dict[str, tuple[str | None, str]] = {"avr": ("t2v", "R@1"), "avc": (None, "CIDEr")}
RECALL_KS = (1, 5, 10)

# Bumped when the way a metric is computed changes, so stored leaderboard rows say what produced them.
AVR_METRIC_VERSION = "valor-bench-avr-1 (pessimistic ties; v2t = best of a clip's captions)"


def metric_info(task: str, name: str) -> MetricInfo:
    return METRICS[task][name]


def main_metric_label(task: str) -> str:
    direction, name = MAIN_METRIC[task]
    return f"{direction} {name}" if direction else name


@cache
def metric_versions() -> dict[str, str]:
    """Versions of the code behind the numbers, stored with every leaderboard row."""
    try:
        coco = metadata.version("pycocoevalcap")
    except metadata.PackageNotFoundError:  # pragma: no cover - bench extra missing
        coco = "not installed"
    return {
        "pycocoevalcap": coco,
        "meteor": "METEOR 1.5 (pycocoevalcap jar)",
        "tokenizer": "Stanford PTBTokenizer (CoreNLP 3.4.1, pycocoevalcap jar)",
        "avr": AVR_METRIC_VERSION,
    }
