"""Reproduce Table 1 of the VALOR paper (caption length and ACD) on the caption sets in ``--data``.

    python benchmarks/table1_acd.py --data ../shared/data [--preset paper] [--no-compare] [--json OUT]

Prints, per dataset, the paper's average caption length and ACD next to ours with the deltas, and the
mean absolute error over the datasets we have captions for; then the same error for every ACD preset, so
the choice of ``--preset paper`` can be checked. The files in ``--data`` are subsets or supersets of what
the paper measured where noted (e.g. WebVid-10M's validation split stands for WebVid-2.5M).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from valor_data.captions.acd import PRESETS, AcdCounts, matcher_for
from valor_data.captions.readers import CaptionReadError, read_captions


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[str, ...]  # relative to --data
    paper_len: float | None
    paper_acd: float
    read: dict = field(default_factory=dict)  # keyword arguments of read_captions
    note: str = ""


TABLE1 = (
    Dataset(
        "WebVid-2.5M",
        ("captions/webvid/results_10M_val.csv",),
        14.2,
        3.3,
        {"columns": ["name"]},
        "WebVid-10M val, 5,000 captions",
    ),
    Dataset(
        "CC3M",
        ("captions/cc3m/Validation_GCC-1.1.0-Validation.tsv",),
        None,
        3.0,
        {"header": False, "columns": ["0"]},
        "validation, 15,833",
    ),
    Dataset(
        "MSVD",
        ("captions/msvd/descs_cap_train.json", "captions/msvd/descs_cap_test.json"),
        7.0,
        6.7,
        {"field": "desc"},
        "train + test, pre-lowercased",
    ),
    Dataset(
        "MSRVTT", ("captions/msrvtt/descs_cap_test.json",), 9.3, 4.7, {"field": "desc"}, "test, 2,990 x 20"
    ),
    Dataset(
        "VATEX", ("captions/vatex/descs_ret_test.json",), 14.3, 4.1, {"field": "desc"}, "1,500-video subset"
    ),
    Dataset(
        "ActivityNet",
        tuple(f"captions/activitynet/{f}.json" for f in ("train_modified", "val_1", "val_2")),
        13.5,
        3.4,
        {"field": "sentences"},
        "train + val_1 + val_2",
    ),
    Dataset(
        "ClothoV1",
        (
            "captions/clotho_v1/clotho_captions_development.csv",
            "captions/clotho_v1/clotho_captions_evaluation.csv",
        ),
        11.3,
        10.4,
        {"columns": [f"caption_{i}" for i in range(1, 6)]},
        "development + evaluation",
    ),
    Dataset(
        "AudioCaps",
        tuple(f"captions/audiocaps/{s}.csv" for s in ("train", "val", "test")),
        8.8,
        17.3,
        {"columns": ["caption"]},
        "v1 train + val + test",
    ),
    Dataset(
        "VALOR-32K",
        tuple(f"valor32k/desc_{s}.json" for s in ("train", "val", "test")),
        19.8,
        9.1,
        {"field": "desc"},
        "train + val + test",
    ),
)
NOT_HERE = {
    "VALOR-1M": (16.4, 9.7),
    "HowTo100M": (4.0, 3.4),
    "HD_VILA_100M": (32.5, 1.1),
    "YouCook2": (8.8, 4.3),
    "DiDeMo": (8.0, 6.3),
    "LSMDC": (9.1, 2.5),
}


def load(data: Path) -> dict[str, list[str]]:
    """Every Table-1 caption set found under ``data`` (a missing file skips its dataset with a note)."""
    out = {}
    for ds in TABLE1:
        paths = [data / f for f in ds.files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            print(f"[table1] skipping {ds.name}: missing {', '.join(missing)}", file=sys.stderr)
            continue
        out[ds.name] = [t for p in paths for t in read_captions(p, **ds.read).texts]
    return out


def measure(captions: dict[str, list[str]], preset: str) -> dict[str, AcdCounts]:
    matcher = matcher_for(preset)
    return {name: matcher.count(caps) for name, caps in captions.items()}


def errors(results: dict[str, AcdCounts]) -> dict[str, float]:
    acd_d = [results[d.name].acd - d.paper_acd for d in TABLE1 if d.name in results]
    len_d = [results[d.name].avg_len - d.paper_len for d in TABLE1 if d.name in results and d.paper_len]
    return {
        "mae_acd": sum(map(abs, acd_d)) / len(acd_d) if acd_d else float("nan"),
        "max_abs_acd": max(map(abs, acd_d)) if acd_d else float("nan"),
        "mean_delta_acd": sum(acd_d) / len(acd_d) if acd_d else float("nan"),
        "mae_len": sum(map(abs, len_d)) / len(len_d) if len_d else float("nan"),
        "n_acd": len(acd_d),
        "n_len": len(len_d),
    }


def table(results: dict[str, AcdCounts], preset: str) -> str:
    head = (
        f"{'dataset':12s} {'captions':>8s} | {'len paper':>9s} {'ours':>6s} {'Δ':>6s} | "
        f"{'ACD paper':>9s} {'ours':>6s} {'Δ':>6s} | note"
    )
    lines = [f"Table 1 (preset {preset!r})", head, "-" * len(head)]
    for d in TABLE1:
        if d.name not in results:
            continue
        r = results[d.name]
        plen = (
            f"{d.paper_len:9.1f} {r.avg_len:6.2f} {r.avg_len - d.paper_len:+6.2f}"
            if d.paper_len
            else (f"{'-':>9s} {r.avg_len:6.2f} {'':>6s}")
        )
        lines.append(
            f"{d.name:12s} {r.n_captions:8d} | {plen} | {d.paper_acd:9.1f} {r.acd:6.2f} "
            f"{r.acd - d.paper_acd:+6.2f} | {d.note}"
        )
    e = errors(results)
    lines.append("-" * len(head))
    lines.append(
        f"MAE ACD {e['mae_acd']:.3f} over {e['n_acd']} datasets (max |Δ| {e['max_abs_acd']:.2f}, "
        f"mean Δ {e['mean_delta_acd']:+.2f}); MAE length {e['mae_len']:.3f} over {e['n_len']}"
    )
    lines.append(
        "not measured (no captions in --data): "
        + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in NOT_HERE.items())
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", default="../shared/data", type=Path, help="reference data folder (README there)"
    )
    ap.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    ap.add_argument("--no-compare", action="store_true", help="skip the error table of every preset")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        ap.error(f"--data {args.data}: no such folder")
    t0 = time.perf_counter()
    try:
        captions = load(args.data)
    except CaptionReadError as e:
        ap.error(str(e))
    if not captions:
        ap.error(f"--data {args.data}: none of the Table-1 caption files found")
    results = measure(captions, args.preset)
    print(table(results, args.preset))
    out = {"preset": args.preset, "datasets": {}, "errors": errors(results), "presets": {}}
    for d in TABLE1:
        if d.name in results:
            r = results[d.name]
            out["datasets"][d.name] = {"paper_len": d.paper_len, "paper_acd": d.paper_acd, **r.summary(5)}
    if not args.no_compare:
        print("\nEvery preset against Table 1 (ACD):")
        print(f"{'preset':12s} {'MAE':>6s} {'max|Δ|':>7s} {'mean Δ':>7s} {'MAE len':>8s}")
        for name in PRESETS:
            e = errors(measure(captions, name)) if name != args.preset else out["errors"]
            out["presets"][name] = e
            print(
                f"{name:12s} {e['mae_acd']:6.3f} {e['max_abs_acd']:7.2f} {e['mean_delta_acd']:+7.2f} "
                f"{e['mae_len']:8.3f}"
            )
    print(f"\n[{time.perf_counter() - t0:.1f} s]")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
