"""AVC caption metrics: pycocoevalcap's PTB tokenizer and scorers, run as the COCO caption evaluator does.

The numbers are pycocoevalcap's own (the same tokenized dicts go to the same scorer classes); only the
scheduling differs, because METEOR dominates the wall time (a JVM that loads a 60 MB paraphrase table):
its JVM is started first so it boots while the captions are tokenized, then METEOR is fed from this
process while BLEU, ROUGE-L and CIDEr run in a worker process. Scores are reported x100, 2 decimals.
CIDEr is CIDEr-D as pycocoevalcap computes it: its IDF comes from all the references passed, so a
submission is always scored against the whole split.

Every file the scoring writes (the inputs of the tokenizer and SPICE, which hold the references) goes
to one private directory, and every process it starts (the JVMs, the worker process) dies with the
scoring process: see ``coco_java.py`` and ``valor_data/child_process.py``.
"""

from __future__ import annotations

import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from valor_data.child_process import exit_when_orphaned, spawn

SPICE_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


class CaptionMetricError(RuntimeError):
    """A scorer could not run (Java missing, METEOR crashed...): a one-line reason."""


@dataclass
class AvcScores:
    metrics: dict[str, float]  # x100, rounded to 2 decimals
    raw: dict[str, float]  # as pycocoevalcap returns them
    per_sample: dict[str, list[float]]  # x100, not rounded, in the order of the ids given
    notes: list[str] = field(default_factory=list)


def spice_lib_dir() -> Path:
    import pycocoevalcap.spice.spice as spice_module  # optional extra: pycocoevalcap (bench)

    return Path(spice_module.__file__).resolve().parent / "lib"


def spice_status() -> tuple[bool, str]:
    """Whether SPICE can run offline, and a one-line message saying why not / how to enable it."""
    lib = spice_lib_dir()
    missing = [j for j in SPICE_JARS if not (lib / j).is_file()]
    if not missing:
        return True, "SPICE enabled"
    return False, (
        f"SPICE skipped: it needs Stanford CoreNLP 3.6.0 ({' and '.join(missing)}) in {lib}; copy them there "
        "from stanford-corenlp-full-2015-12-09.zip (nlp.stanford.edu) to enable it"
    )


def _require_java() -> None:
    if shutil.which("java") is None:
        raise CaptionMetricError(
            "java not found on PATH: the PTB tokenizer and METEOR need Java (Debian: apt-get install "
            "openjdk-17-jre-headless)"
        )


def _tokenize(captions: dict, workdir: Path) -> dict:
    from valor_bench.coco_java import JavaToolError, ptb_tokenize  # optional extra: pycocoevalcap (bench)

    try:
        return ptb_tokenize(captions, workdir)
    except JavaToolError as e:
        raise CaptionMetricError(str(e)) from None


def python_scorers(gts: dict, res: dict) -> dict[str, tuple]:
    """BLEU, ROUGE-L and CIDEr on tokenized dicts: ``{name: (score, per-sample scores)}``."""
    from pycocoevalcap.bleu.bleu import Bleu  # optional extra: pycocoevalcap (bench)
    from pycocoevalcap.cider.cider import Cider  # optional extra: pycocoevalcap (bench)
    from pycocoevalcap.rouge.rouge import Rouge  # optional extra: pycocoevalcap (bench)

    out = {"Bleu": Bleu(4).compute_score(gts, res, verbose=0)}
    out["Rouge"] = Rouge().compute_score(gts, res)
    out["Cider"] = Cider().compute_score(gts, res)
    return out


def _start_worker() -> subprocess.Popen:
    """``python -m valor_bench.avc``: runs :func:`python_scorers` on a pickled ``(gts, res)`` from stdin.

    A plain subprocess rather than multiprocessing: no fork of a threaded process, and no re-import of
    the caller's ``__main__`` (which spawn needs, and which breaks unguarded scripts).
    """
    return spawn([sys.executable, "-m", "valor_bench.avc"], signal.SIGKILL, stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _worker_result(proc: subprocess.Popen, gts: dict, res: dict) -> dict[str, tuple]:
    out, err = proc.communicate(pickle.dumps((gts, res), protocol=pickle.HIGHEST_PROTOCOL))
    if proc.returncode != 0 or not out:
        tail = err.decode(errors="replace").strip().splitlines()
        raise CaptionMetricError(f"the BLEU/ROUGE-L/CIDEr worker failed: {tail[-1] if tail else proc.returncode}")
    return pickle.loads(out)


def _worker_main() -> None:
    exit_when_orphaned()
    gts, res = pickle.load(sys.stdin.buffer)
    sys.stdout.buffer.write(pickle.dumps(python_scorers(gts, res), protocol=pickle.HIGHEST_PROTOCOL))


def _meteor_scores(meteor, gts: dict, res: dict) -> tuple[float, list[float]]:
    try:
        return meteor.compute_score(gts, res)
    except (ValueError, BrokenPipeError, OSError) as e:
        if meteor.lock.locked():  # compute_score holds it when the JVM dies mid-way
            meteor.lock.release()
        err = b""
        if meteor.meteor_p.poll() is not None and meteor.meteor_p.stderr:
            err = meteor.meteor_p.stderr.read()[-500:]
        raise CaptionMetricError(f"METEOR (Java) failed: {e} {err.decode(errors='replace').strip()}") from None


def _close_meteor(meteor) -> None:
    if meteor.meteor_p.poll() is None:
        meteor.meteor_p.stdin.close()
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()


def _stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.kill()
        worker.wait()


def score_captions(refs: dict[str, list[str]], hyps: dict[str, str], *, spice: bool | None = None,
                   parallel: bool = True, stage: Callable[[str], None] | None = None,
                   meteor=None, workdir: Path | None = None) -> AvcScores:
    """Score ``hyps`` (one caption per id) against ``refs`` (all ids, one or more captions each).

    ``refs`` and ``hyps`` must have the same ids (the validator guarantees it). ``spice=None`` runs SPICE
    when its jars are present; ``parallel=False`` runs everything one after the other in this process.
    ``meteor``: a running ``pycocoevalcap`` ``Meteor`` to reuse (its JVM start-up is most of METEOR's
    cost when scoring many small sets); it is left running. By default one is started and stopped here.
    ``workdir``: an existing private directory (mode 0700) for the files of this scoring; by default a
    fresh one in the system temp directory, removed afterwards.
    """
    if refs.keys() != hyps.keys():
        raise ValueError("refs and hyps must have the same ids: validate the submission first")
    _require_java()
    stage = stage or (lambda _msg: None)
    gts = {k: [{"caption": c} for c in refs[k]] for k in refs}
    res = {k: [{"caption": hyps[k]}] for k in refs}
    notes: list[str] = []
    spice_ok, spice_msg = spice_status()
    if spice is None:
        spice = spice_ok
        if not spice_ok:
            notes.append(spice_msg)
    elif spice and not spice_ok:
        raise CaptionMetricError(spice_msg)

    with ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="valor-avc-")))
        if meteor is None:
            from valor_bench.coco_java import JobMeteor  # optional extra: pycocoevalcap (bench)

            meteor = JobMeteor(workdir)  # the JVM boots (and loads its paraphrase table) while we tokenize
            cleanup.callback(_close_meteor, meteor)
        worker = _start_worker() if parallel else None  # imports the scorers meanwhile
        if worker is not None:
            cleanup.callback(_stop_worker, worker)
        stage("tokenizing (PTB tokenizer, Java)")
        with ThreadPoolExecutor(2) as threads:
            if parallel:
                g_future, r_future = threads.submit(_tokenize, gts, workdir), threads.submit(_tokenize, res, workdir)
                tok_gts, tok_res = g_future.result(), r_future.result()
                stage("scoring: METEOR (Java) here, BLEU, ROUGE-L, CIDEr in a worker process")
                others = threads.submit(_worker_result, worker, tok_gts, tok_res)
                meteor_score = _meteor_scores(meteor, tok_gts, tok_res)
                scored = others.result()
            else:
                tok_gts, tok_res = _tokenize(gts, workdir), _tokenize(res, workdir)
                stage("scoring: BLEU, METEOR, ROUGE-L, CIDEr")
                scored = python_scorers(tok_gts, tok_res)
                meteor_score = _meteor_scores(meteor, tok_gts, tok_res)
        scored["Meteor"] = meteor_score
        if spice:
            stage("scoring: SPICE (Java)")
            scored["Spice"] = _spice(tok_gts, tok_res, workdir)
    return _collect(scored, notes)


def _spice(gts: dict, res: dict, workdir: Path) -> tuple:
    from valor_bench.coco_java import JavaToolError, spice_score  # optional extra: pycocoevalcap (bench)

    try:
        return spice_score(gts, res, workdir)
    except (JavaToolError, OSError, ValueError) as e:
        raise CaptionMetricError(f"SPICE (Java) failed: {e}; rerun with --no-spice to skip it") from None


def _collect(scored: dict[str, tuple], notes: list[str]) -> AvcScores:
    bleu, bleu_each = scored["Bleu"]
    raw = {f"BLEU-{n + 1}": float(bleu[n]) for n in range(4)}
    raw["METEOR"] = float(scored["Meteor"][0])
    raw["ROUGE-L"] = float(scored["Rouge"][0])
    raw["CIDEr"] = float(scored["Cider"][0])
    per_sample = {
        "BLEU-4": [float(x) * 100 for x in bleu_each[3]],
        "METEOR": [float(x) * 100 for x in scored["Meteor"][1]],
        "ROUGE-L": [float(x) * 100 for x in scored["Rouge"][1]],
        "CIDEr": [float(x) * 100 for x in scored["Cider"][1]],
    }
    if "Spice" in scored:
        raw["SPICE"] = float(scored["Spice"][0])
        per_sample["SPICE"] = [float(x["All"]["f"]) * 100 for x in scored["Spice"][1]]
    metrics = {name: round(value * 100, 2) for name, value in raw.items()}
    return AvcScores(metrics, raw, per_sample, notes)


if __name__ == "__main__":
    _worker_main()
