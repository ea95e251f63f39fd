"""Test-only: stop a process of ``valor-bench serve`` at one moment of a scoring job, so that a test can
SIGKILL the worker right there (``test_kill.py``).

Python imports ``sitecustomize`` at start-up from its path: the test puts this folder on PYTHONPATH for
the server, and its workers and scorer processes inherit it. ``VALOR_KILLPOINT`` names the moment. The
first process to reach it writes its pid to ``$VALOR_KILLPOINT_DIR/paused`` and sleeps until it is
killed (another thread of the same process reaching it sleeps too); any other process, the run after
the kill, goes through.
"""

from __future__ import annotations

import functools
import os
import time

MOMENT = os.environ.get("VALOR_KILLPOINT")
PAUSE_DIR = os.environ.get("VALOR_KILLPOINT_DIR", "")


def pause_first() -> None:
    marker = os.path.join(PAUSE_DIR, "paused")
    mine = f"{marker}.{os.getpid()}"
    with open(mine, "w") as fh:
        fh.write(str(os.getpid()))
    try:
        os.link(mine, marker)  # atomic: exactly one process wins
    except FileExistsError:
        with open(marker) as fh:
            if fh.read() != str(os.getpid()):
                return
    finally:
        os.remove(mine)
    while True:
        time.sleep(3600)


def wrap(owner, name: str, *, before=None, after=None) -> None:
    """Pause before (or after) ``owner.name`` runs when ``before(*args)`` (``after(*args)``) is true."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if before and before(*args, **kwargs):
            pause_first()
        result = original(*args, **kwargs)
        if after and after(*args, **kwargs):
            pause_first()
        return result

    setattr(owner, name, wrapper)


def reading_the_upload(path, *_args, **_kwargs) -> bool:
    """The worker opens the uploaded file and has read its first bytes when it stops."""
    with open(path, "rb") as fh:
        fh.read(16)
        pause_first()
    return False


def install(moment: str) -> None:
    """Patch what ``moment`` needs, importing only that: this runs at the start of every process of the server."""
    always = lambda *_a, **_k: True  # noqa: E731
    if moment == "upload-read":
        from valor_bench.server import worker

        wrap(worker, "validate_submission", before=reading_the_upload)
    elif moment == "tokenizing":  # the tokenizer's JVM started, its input file (the references) written
        from valor_bench import coco_java

        wrap(coco_java, "spawn", after=lambda cmd, *_a, **_k: "edu.stanford.nlp.process.PTBTokenizer" in cmd)
    elif moment == "meteor":  # METEOR's JVM has scored the first clip
        from pycocoevalcap.meteor.meteor import Meteor

        wrap(Meteor, "_stat", after=always)
    elif moment == "cider":  # in the scorer process, BLEU and ROUGE-L done
        from pycocoevalcap.cider.cider import Cider

        wrap(Cider, "compute_score", before=always)
    elif moment == "result":  # inside the transaction that records the scores
        from valor_bench.server import worker

        wrap(worker.queue, "add_event", before=lambda _conn, _db, _sid, status, *_a, **_k: status == "finished")
    else:
        raise SystemExit(f"VALOR_KILLPOINT={moment}: not a moment this test knows")


if MOMENT:
    install(MOMENT)
