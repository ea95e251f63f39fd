"""pycocoevalcap's Java tools, run so that their files and processes belong to the scoring job.

pycocoevalcap's ``PTBTokenizer`` and ``Spice`` write the captions (the hidden references among them) to
``NamedTemporaryFile(delete=False)`` in its own package directory and leave them there when the
process dies mid-way (SPICE also keeps a cache of parsed references there); its ``Meteor`` starts a
JVM that outlives a killed parent. Here the same jars run with the same arguments and the same
post-processing, so the tokens and scores are identical, but: every file lives in ``workdir`` (a
private directory of the job), the JVMs run in it, get SIGKILL when the scoring process dies, and keep
no ``hsperfdata`` file in /tmp (``-XX:-UsePerfData``, which changes nothing in their output).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
from pycocoevalcap.meteor import meteor as coco_meteor
from pycocoevalcap.spice import spice as coco_spice
from pycocoevalcap.tokenizer import ptbtokenizer as coco_ptb

from valor_data.child_process import spawn

JVM_FLAGS = ("-XX:-UsePerfData",)
PTB_JAR = Path(coco_ptb.__file__).resolve().parent / coco_ptb.STANFORD_CORENLP_3_4_1_JAR
METEOR_JAR = Path(coco_meteor.__file__).resolve().parent / coco_meteor.METEOR_JAR
SPICE_JAR = Path(coco_spice.__file__).resolve().parent / coco_spice.SPICE_JAR


class JavaToolError(RuntimeError):
    """A Java tool failed or returned too little; the message ends with its stderr."""


def _stderr_tail(err: bytes) -> str:
    tail = " / ".join(err.decode(errors="replace").strip().splitlines()[-3:])
    return f": {tail}" if tail else ""


def ptb_tokenize(captions: dict[str, list[dict]], workdir: Path) -> dict[str, list[str]]:
    """``PTBTokenizer().tokenize(captions)`` with its input file and its JVM in ``workdir``."""
    image_id = [k for k, v in captions.items() for _ in range(len(v))]
    sentences = "\n".join(c["caption"].replace("\n", " ") for v in captions.values() for c in v)
    fd, name = tempfile.mkstemp(prefix="ptb-", suffix=".txt", dir=workdir)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(sentences.encode())
        cmd = ["java", *JVM_FLAGS, "-cp", str(PTB_JAR), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines",
               "-lowerCase", os.path.basename(name)]
        proc = spawn(cmd, signal.SIGKILL, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
        out, err = proc.communicate()
    finally:
        os.remove(name)
    tokenized: dict[str, list[str]] = {}
    lines = out.decode().split("\n")  # one more than the captions: the output ends with a newline
    for k, line in zip(image_id, lines, strict=False):
        words = [w for w in line.rstrip().split(" ") if w not in coco_ptb.PUNCTUATIONS]
        tokenized.setdefault(k, []).append(" ".join(words))
    if tokenized.keys() != captions.keys() or any(len(tokenized[k]) != len(v) for k, v in captions.items()):
        raise JavaToolError(f"the PTB tokenizer (Java) returned fewer captions than it was given{_stderr_tail(err)}")
    return tokenized


def spice_score(gts: dict[str, list[str]], res: dict[str, list[str]], workdir: Path) -> tuple[float, list[dict]]:
    """``Spice().compute_score(gts, res)`` with its input, output and cache in ``workdir``.

    pycocoevalcap's ``Spice()`` would download Stanford CoreNLP when its jars are missing: the caller
    checks them first (``valor_bench.avc.spice_status``).
    """
    img_ids = sorted(gts.keys())
    input_data = [{"image_id": i, "test": res[i][0], "refs": gts[i]} for i in img_ids]
    in_file, out_file, cache = workdir / "spice-in.json", workdir / "spice-out.json", workdir / "spice-cache"
    with open(os.open(in_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        json.dump(input_data, fh, indent=2)
    cache.mkdir(mode=0o700)
    cmd = ["java", *JVM_FLAGS, "-jar", "-Xmx8G", str(SPICE_JAR), str(in_file), "-cache", str(cache), "-out",
           str(out_file), "-subset", "-silent"]
    proc = spawn(cmd, signal.SIGKILL, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE)
    _out, err = proc.communicate()
    if proc.returncode != 0:
        raise JavaToolError(f"SPICE (Java) exited with code {proc.returncode}{_stderr_tail(err)}")
    results = json.loads(out_file.read_text())
    in_file.unlink()
    out_file.unlink()
    convert = functools.partial(coco_spice.Spice.float_convert, None)  # pycocoevalcap's; it does not use self
    by_id = {item["image_id"]: item["scores"] for item in results}
    average = np.mean(np.array([convert(item["scores"]["All"]["f"]) for item in results]))
    scores = [{category: {k: convert(v) for k, v in scored.items()} for category, scored in by_id[i].items()}
              for i in img_ids]
    return average, scores


class JobMeteor(coco_meteor.Meteor):
    """pycocoevalcap's ``Meteor`` (its scoring protocol untouched) with its JVM started in ``workdir``."""

    def __init__(self, workdir: Path):
        # The parent's __init__ only starts the JVM (in its package directory, outliving us): this one
        # starts the same command, and sets the two attributes the parent's methods use.
        self.meteor_cmd = ["java", *JVM_FLAGS, "-jar", "-Xmx2G", str(METEOR_JAR), "-", "-", "-stdio", "-l", "en",
                           "-norm"]
        self.meteor_p = spawn(self.meteor_cmd, signal.SIGKILL, cwd=workdir, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lock = threading.Lock()
