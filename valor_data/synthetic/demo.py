"""`valor-data demo`: the whole toolkit, offline, on an embedded AudioSet-like mirror.

Every step runs the real command line a user would type (``python -m valor_data.cli ...`` and the
other two CLIs), so the demo shows exactly what the tools print: their progress bars and summaries.
Each step is checked; the run ends with a table of what was made and where.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from valor_data.clip import Status
from valor_data.resources import valor32k_annotation_path
from valor_data.synthetic import demo_data
from valor_data.synthetic.demo_annotate import run_campaign
from valor_data.synthetic.mirror import Mirror

SPLITS = ("train", "val", "test")
CLIS = {"valor-data": "valor_data.cli", "valor-bench": "valor_bench.cli", "valor-model": "valor_model.cli"}


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and what went wrong."""


@dataclass
class DemoOptions:
    out: Path
    clips: int = 120  # good synthetic clips (plus 9 that must fail)
    train_steps: int = 40
    batch_size: int = 16
    workers: int = 2
    seed: int = 0


@dataclass
class StepResult:
    name: str
    seconds: float
    outputs: list[str] = field(default_factory=list)
    note: str = ""


class Demo:
    def __init__(self, opts: DemoOptions, console: Console | None = None):
        self.o = opts
        self.out = Path(opts.out).resolve()
        self.console = console or Console(stderr=True)
        self.results: list[StepResult] = []
        self.inputs: demo_data.DemoInputs | None = None
        self.mirror: Mirror | None = None

    # -- plumbing ------------------------------------------------------------------------------------
    def run(self, tool: str, *args: str, step: str) -> str:
        """Run a CLI as a user would; its progress bars go to the terminal, its stdout is returned."""
        cmd = [sys.executable, "-m", CLIS[tool], *args]
        self.console.print(f"[dim]$ {tool} {' '.join(args)}[/dim]")
        # Tables of the child CLIs are as wide as this terminal, not rich's 80-column default for pipes.
        env = {**os.environ, "COLUMNS": str(max(100, shutil.get_terminal_size().columns))}
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False, env=env)
        if proc.stdout.strip():
            self.console.print(proc.stdout.rstrip(), markup=False, highlight=False)
        if proc.returncode != 0:
            raise DemoError(f"step {step!r}: `{tool} {' '.join(args)}` exited with {proc.returncode}")
        return proc.stdout

    def step(self, index: int, total: int, name: str, fn: Callable[[], StepResult | None]) -> None:
        self.console.rule(f"[bold]step {index}/{total}: {name}")
        start = time.perf_counter()
        result = fn() or StepResult(name, 0.0)
        result.name, result.seconds = name, time.perf_counter() - start
        self.results.append(result)
        self.console.print(f"[green]✓[/green] {name} ({result.seconds:.1f} s){' — ' + result.note if result.note else ''}")

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.out.parent)) if path.is_relative_to(self.out.parent) else str(path)

    # -- steps ---------------------------------------------------------------------------------------
    def make_inputs(self) -> StepResult:
        total = self.o.clips + len(demo_data.FAILING)
        with tqdm(total=total, desc="render source videos", unit="clip") as bar:
            self.inputs = demo_data.build(self.out / "inputs", self.o.clips, self.o.seed, self.o.workers, bar.update)
        return StepResult("", 0, [self.rel(self.inputs.segments_csv), self.rel(self.inputs.captions_json),
                                  self.rel(self.inputs.videos) + "/"],
                          f"{self.o.clips} synthetic audiovisual clips + {len(demo_data.FAILING) + 2} edge cases")

    def fetch(self) -> StepResult:
        assert self.inputs and self.mirror
        fetch_dir = self.out / "fetch"
        self.run("valor-data", "fetch", str(self.inputs.segments_csv), "--out", str(fetch_dir),
                 "--source", "mirror", "--url-template", self.mirror.url_template,
                 "--workers", str(self.o.workers), "--retries", "2", "--retry-wait", "0.2",
                 "--socket-timeout", "10", step="fetch")
        manifest = pq.read_table(fetch_dir / "manifest.parquet").to_pylist()
        got = {row["clip_id"]: row["status"] for row in manifest}
        wrong = {cid: (want, got.get(cid)) for cid, want in self.inputs.expected.items() if got.get(cid) != want}
        invalid = sum(row["status"] == Status.INVALID_ID for row in manifest)
        if wrong or invalid != self.inputs.invalid_rows:
            raise DemoError(f"step 'fetch': unexpected statuses {wrong} (invalid rows: {invalid})")
        counts = Counter(got.values())
        return StepResult("", 0, [self.rel(fetch_dir / "manifest.parquet"), self.rel(fetch_dir / "clips") + "/"],
                          "every clip got its expected status: "
                          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    def split(self) -> StepResult:
        assert self.inputs
        split_dir = self.out / "split"
        self.run("valor-data", "split", str(self.inputs.segments_csv), "--manifest",
                 str(self.out / "fetch" / "manifest.parquet"), "--captions", str(self.inputs.captions_json),
                 "--fractions", "0.7,0.1,0.2", "--seed", str(self.o.seed), "--out", str(split_dir), step="split")
        return StepResult("", 0, [self.rel(split_dir / f"desc_{s}.json") for s in SPLITS])

    def shard(self) -> StepResult:
        assert self.inputs
        outputs = []
        for name in SPLITS:
            shard_dir = self.out / "shards" / name
            self.run("valor-data", "shard", str(self.out / "fetch"), "--out", str(shard_dir), "--ids",
                     str(self.out / "split" / f"{name}_ids.txt"), "--captions", str(self.inputs.captions_json),
                     "--shard-size", "32", "--prefix", name, "--workers", str(self.o.workers), step="shard")
            # shard wrote the card; this names the split and the dataset in it
            self.run("valor-data", "card", str(shard_dir), "--split", name, "--name", f"valor-demo-{name}", step="card")
            outputs.append(self.rel(shard_dir) + "/")
        return StepResult("", 0, outputs)

    def verify(self) -> StepResult:
        for name in SPLITS:
            self.run("valor-data", "verify", str(self.out / "shards" / name), step="verify")
        return StepResult("", 0, [], "all shards, index, manifests and dataset cards check out")

    def export_valor(self) -> StepResult:
        release = self.out / "release" / "valor"
        self.run("valor-data", "export", "--layout", "valor", str(self.out / "shards" / "test"), str(release),
                 "--split", "test", "--workers", str(self.o.workers), step="export")
        return StepResult("", 0, [self.rel(release / "test_id.json"), self.rel(release / "frames_fps4") + "/",
                                  self.rel(release / "audio_22050hz") + "/"],
                          "the test split in the official VALOR code's layout")

    def acd(self) -> StepResult:
        assert self.inputs
        # The demo's captions next to real ones (the shipped VALOR-32K test split), per file.
        report = self.out / "acd.json"
        text = self.run("valor-data", "acd", str(self.inputs.captions_json), str(valor32k_annotation_path("test")),
                        "--json", step="acd")
        report.write_text(text)
        demo, real = json.loads(text)["files"]
        return StepResult("", 0, [self.rel(report)],
                          f"audio concepts per 100 caption words: demo captions {demo['acd']:.1f}, "
                          f"VALOR-32K test {real['acd']:.1f}")

    def annotate(self) -> StepResult:
        try:
            r = run_campaign(self.run, self.out, self.out / "shards")
        except DemoError:
            raise
        except RuntimeError as e:  # the server did not start, or the scripted campaign did not settle
            raise DemoError(f"step 'annotate': {e}") from None
        kappa = "undefined" if r.kappa is None else f"{r.kappa:.2f}"
        return StepResult("", 0, [self.rel(p) for p in r.outputs],
                          f"{r.accepted} captions accepted ({r.rewritten} after a rewrite), Fleiss' kappa {kappa}, "
                          f"flagged as accepting everything: {', '.join(r.flagged) or 'nobody'}; exported ACD "
                          f"{r.acd:.1f}, {r.avg_len:.1f} words; a 2-word caption refused: {r.refused}")

    def stats(self) -> StepResult:
        assert self.inputs
        stats_dir = self.out / "stats"
        self.run("valor-data", "stats", "--split-dir", str(self.out / "split"), "--out", str(stats_dir),
                 "--segments", str(self.inputs.segments_csv), step="stats")
        return StepResult("", 0, [self.rel(p) for p in sorted(stats_dir.glob("*.png"))])

    def train(self) -> StepResult:
        run_dir = self.out / "model"
        self.run("valor-model", "train", "--config", "tiny", "--train-shards", str(self.out / "shards" / "train"),
                 "--val-shards", str(self.out / "shards" / "val"), "--out", str(run_dir),
                 "--max-steps", str(self.o.train_steps), "--batch-size", str(self.o.batch_size),
                 "--lr", "5e-4", "--num-workers", "1", "--checkpoint-every", str(max(1, self.o.train_steps // 2)),
                 "--log-every", "5", "--seed", str(self.o.seed), step="train")
        return StepResult("", 0, [self.rel(run_dir / "metrics.jsonl"), self.rel(run_dir / "checkpoints") + "/"])

    def predict(self) -> StepResult:
        pred = self.out / "predictions"
        for task, suffix in (("avr", "npz"), ("avc", "json")):
            self.run("valor-model", "predict", "--task", task, "--checkpoint", str(self.out / "model"),
                     "--shards", str(self.out / "shards" / "test"), "--modality", "av",
                     "--out", str(pred / f"{task}.{suffix}"), "--num-workers", "1",
                     "--model-name", "VALOR-tiny (demo)", step=f"predict {task}")
        return StepResult("", 0, [self.rel(pred / "avr.npz"), self.rel(pred / "avc.json"),
                                  self.rel(pred / "avr.available.txt"), self.rel(pred / "avc.available.txt")])

    def submit(self) -> StepResult:
        db = self.out / "leaderboard.sqlite"
        gt = self.out / "split" / "desc_test.json"
        for task, suffix in (("avr", "npz"), ("avc", "json")):
            # predict listed the clips it could decode: a clip it had to leave out makes the entry partial
            self.run("valor-bench", "submit", str(self.out / "predictions" / f"{task}.{suffix}"), "--task", task,
                     "--annotations", str(gt), "--available", str(self.out / "predictions" / f"{task}.available.txt"),
                     "--name", "VALOR-tiny (demo)", "--modality", "av", "--db", str(db), step=f"submit {task}")
        return StepResult("", 0, [self.rel(db)])

    def leaderboard(self) -> StepResult:
        db = self.out / "leaderboard.sqlite"
        self.run("valor-bench", "leaderboard", "--add-reference", "--db", str(db), step="leaderboard")
        board = self.out / "leaderboard.md"
        parts = []
        for task in ("avr", "avc"):
            self.run("valor-bench", "leaderboard", "--task", task, "--split", "all", "--db", str(db), step="leaderboard")
            parts.append(self.run("valor-bench", "leaderboard", "--task", task, "--split", "all", "--format",
                                  "markdown", "--db", str(db), step="leaderboard"))
        board.write_text("\n".join(parts))
        return StepResult("", 0, [self.rel(board)],
                          "one board per ground truth: the demo model on the demo's test split, the paper's rows on "
                          "VALOR-32K test, never ranked against each other")

    # -- the whole run -------------------------------------------------------------------------------
    def main(self) -> list[StepResult]:
        self.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        steps = [("make an AudioSet-like set", self.make_inputs), ("fetch from the mirror", self.fetch),
                 ("split train/val/test", self.split), ("shard each split", self.shard),
                 ("verify the shards", self.verify), ("export the test split to the VALOR layout", self.export_valor),
                 ("caption campaign (annotate)", self.annotate),
                 ("audio concept density", self.acd),
                 ("split statistics", self.stats), ("train VALOR (tiny)", self.train),
                 ("predict AVR and AVC", self.predict), ("submit to the benchmark", self.submit),
                 ("leaderboard", self.leaderboard)]
        self.step(1, len(steps), steps[0][0], steps[0][1])
        assert self.inputs
        with Mirror(self.inputs.videos, faults=self.inputs.faults) as mirror:
            self.mirror = mirror
            self.console.print(f"mirror serving {self.rel(self.inputs.videos)}/ at {mirror.base_url}")
            for i, (name, fn) in enumerate(steps[1:], start=2):
                self.step(i, len(steps), name, fn)
        self.summary(time.perf_counter() - started)
        return self.results

    def summary(self, seconds: float) -> None:
        table = Table(title=f"valor demo: done in {seconds / 60:.1f} min, everything under {self.rel(self.out)}/")
        table.add_column("step")
        table.add_column("time", justify="right")
        table.add_column("made")
        table.add_column("note")
        for r in self.results:
            table.add_row(r.name, f"{r.seconds:.0f} s", "\n".join(r.outputs), r.note)
        self.console.print(table)
