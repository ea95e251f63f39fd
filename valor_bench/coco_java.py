"""pycocoevalcap's two Java tools, run so that their files and processes belong to the scoring job.

pycocoevalcap's ``PTBTokenizer`` writes the captions (the hidden references among them) to
``NamedTemporaryFile(delete=False)`` in its own package directory and leaves them there when the
process dies mid-way; its ``Meteor`` starts a JVM that outlives a killed parent. Here the same jars
run with the same arguments and the same post-processing, so the tokens and scores are identical, but:
the tokenizer's input file lives in ``workdir`` (a private directory of the job), both JVMs run in it,
get SIGKILL when the scoring process dies, and keep no ``hsperfdata`` file in /tmp
(``-XX:-UsePerfData``, which changes nothing in their output).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from pycocoevalcap.meteor import meteor as coco_meteor
from pycocoevalcap.tokenizer import ptbtokenizer as coco_ptb

from valor_data.child_process import spawn

JVM_FLAGS = ("-XX:-UsePerfData",)
PTB_JAR = Path(coco_ptb.__file__).resolve().parent / coco_ptb.STANFORD_CORENLP_3_4_1_JAR
METEOR_JAR = Path(coco_meteor.__file__).resolve().parent / coco_meteor.METEOR_JAR


class TokenizerError(RuntimeError):
    """The PTB tokenizer did not return one line per caption; the message ends with its stderr."""


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
        tail = " / ".join(err.decode(errors="replace").strip().splitlines()[-3:])
        raise TokenizerError(f"the PTB tokenizer (Java) returned fewer captions than it was given"
                             f"{f': {tail}' if tail else ''}")
    return tokenized


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
