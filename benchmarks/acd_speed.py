"""ACD speed: the one-pass Aho-Corasick matcher against the naive loop of one regex per concept.

    python benchmarks/acd_speed.py [--data ../shared/data] [--n 1000000] [--sample 0.01] [--preset paper]

Builds ``--n`` captions by repeating the real VALOR-32K and AudioCaps captions, times the matcher on all
of them (one process, one core), times the naive loop (normalise, then ``re.findall`` of each concept with
word boundaries) on a ``--sample`` fraction, checks that both find the same concept counts on that sample,
and prints captions/s (wall clock; CPU seconds too, as the machine may be shared) and the speed-up. Goal: 1M captions in <= 10 s and >= 50x the naive loop.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
from pathlib import Path

from valor_data.captions.acd import PRESETS, matcher_for
from valor_data.captions.readers import read_captions
from valor_data.captions.textnorm import normalize

SOURCES = (
    ("valor32k/desc_train.json", {}),
    ("valor32k/desc_val.json", {}),
    ("valor32k/desc_test.json", {}),
    ("captions/audiocaps/train.csv", {"columns": ["caption"]}),
    ("captions/audiocaps/val.csv", {"columns": ["caption"]}),
    ("captions/audiocaps/test.csv", {"columns": ["caption"]}),
)


def build_corpus(data: Path, n: int) -> list[str]:
    base = [t for rel, kw in SOURCES for t in read_captions(data / rel, **kw).texts]
    return list(itertools.islice(itertools.cycle(base), n))


def naive_count(captions: list[str], concepts: list[str], punct: str) -> tuple[int, int]:
    """(words, concepts) the slow way: one compiled regex per concept, run on every caption."""
    patterns = [re.compile(r"(?<!\S)" + re.escape(c) + r"(?!\S)") for c in concepts]
    n_words = n_concepts = 0
    for caption in captions:
        text = normalize(caption, punct)
        n_words += len(text.split())
        for pat in patterns:
            n_concepts += len(pat.findall(text))
    return n_words, n_concepts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", type=Path)
    ap.add_argument("--n", type=int, default=1_000_000, help="captions to time the matcher on")
    ap.add_argument("--sample", type=float, default=0.01, help="fraction of --n timed with the naive loop")
    ap.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        ap.error(f"--data {args.data}: no such folder")
    preset = PRESETS[args.preset]
    if preset.count != "every" or preset.concepts.plurals:
        ap.error(
            "the naive baseline implements every-occurrence counting without plurals: pick such a preset"
        )

    corpus = build_corpus(args.data, args.n)
    matcher = matcher_for(args.preset)  # built outside the timing (the automaton takes ~0.05 s)
    t0, c0 = time.perf_counter(), time.process_time()
    fast = matcher.count(corpus)
    fast_s, fast_cpu = time.perf_counter() - t0, time.process_time() - c0

    sample = corpus[:: max(1, round(1 / args.sample))]
    t0, c0 = time.perf_counter(), time.process_time()
    naive_words, naive_concepts = naive_count(sample, list(matcher.concepts), preset.concepts.punct)
    naive_s, naive_cpu = time.perf_counter() - t0, time.process_time() - c0
    check = matcher.count(sample)
    agree = (check.n_words, check.n_concepts) == (naive_words, naive_concepts)

    fast_rate, naive_rate = len(corpus) / fast_s, len(sample) / naive_s
    figures = {
        "captions": len(corpus),
        "matcher_s": round(fast_s, 3),
        "matcher_cpu_s": round(fast_cpu, 3),
        "matcher_captions_per_s": round(fast_rate),
        "naive_sample": len(sample),
        "naive_s": round(naive_s, 3),
        "naive_cpu_s": round(naive_cpu, 3),
        "naive_captions_per_s": round(naive_rate),
        "speedup": round(fast_rate / naive_rate, 1),
        "acd": round(fast.acd, 3),
        "counts_agree_on_sample": agree,
        "concepts": len(matcher.concepts),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"matcher: {len(corpus):,} captions in {fast_s:.2f} s wall ({fast_cpu:.2f} s CPU) = "
            f"{fast_rate:,.0f} captions/s (ACD {fast.acd:.2f}, {len(matcher.concepts)} concepts)"
        )
        print(
            f"naive ({len(matcher.concepts)} regexes): {len(sample):,} captions in {naive_s:.2f} s wall "
            f"({naive_cpu:.2f} s CPU) = {naive_rate:,.0f} captions/s"
        )
        print(f"speed-up: {fast_rate / naive_rate:.1f}x; counts agree on the sample: {agree}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
