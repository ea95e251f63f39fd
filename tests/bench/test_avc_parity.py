"""AVC numbers are pycocoevalcap's own: the same captions scored by calling pycocoevalcap directly give
identical raw floats, per-sample values and x100 / 2-decimal headline numbers."""

from __future__ import annotations

import json
import os
import random
import sys

import pytest
from click.testing import CliRunner
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.spice.spice import Spice
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from valor_bench import coco_java
from valor_bench.avc import score_captions, spice_status
from valor_bench.cli import main
from valor_bench.ground_truth import load_ground_truth

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def captions():
    rng = random.Random(2023)
    words = ("a man woman child dog cat car guitar piano plays sings talks barks runs drives loudly softly in "
             "the on of with kitchen street room park stage while and music rain engine crowd cheers").split()

    def sentence():
        return " ".join(rng.choice(words) for _ in range(rng.randint(5, 15)))

    refs, hyps = {}, {}
    for i in range(40):
        clip = f"clip{i:02d}_{rng.randint(0, 99)}.000_{rng.randint(100, 200)}.000"
        refs[clip] = [sentence().capitalize() + rng.choice([".", "!", "", " ..."]) for _ in range(rng.randint(1, 3))]
        base = rng.choice(refs[clip]).split()
        if i % 3 == 0:
            hyps[clip] = sentence()  # unrelated
        elif i % 3 == 1:
            hyps[clip] = " ".join(w for w in base if rng.random() > 0.25) + ","  # words dropped
        else:
            j = rng.randrange(len(base))
            hyps[clip] = " ".join(base[:j] + ["Quickly"] + base[j:])  # a word inserted
    return refs, hyps


def direct(refs: dict, hyps: dict, meteor) -> tuple[dict, dict]:
    """pycocoevalcap as its COCOEvalCap calls it."""
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": hyps[k]}] for k in refs})
    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    meteor_score, meteor_each = meteor.compute_score(gts, res)
    rouge, rouge_each = Rouge().compute_score(gts, res)
    cider, cider_each = Cider().compute_score(gts, res)
    raw = {"BLEU-1": bleu[0], "BLEU-2": bleu[1], "BLEU-3": bleu[2], "BLEU-4": bleu[3], "METEOR": meteor_score,
           "ROUGE-L": rouge, "CIDEr": cider}
    each = {"BLEU-4": bleu_each[3], "METEOR": meteor_each, "ROUGE-L": list(rouge_each), "CIDEr": list(cider_each)}
    return raw, each


def test_same_numbers_as_pycocoevalcap(captions, tmp_path):
    refs, hyps = captions
    meteor = Meteor()  # one JVM for both sides: METEOR's EVAL only aggregates the lines it is sent
    raw, each = direct(refs, hyps, meteor)
    # Parallel: METEOR here, the rest in a worker process; SPICE runs only where its jars are installed.
    workdir = tmp_path / "job"
    workdir.mkdir(mode=0o700)
    ours = score_captions(refs, hyps, meteor=meteor, workdir=workdir)
    assert list(workdir.iterdir()) == []  # the tokenizer's files are gone once it has run
    sequential = score_captions(refs, hyps, meteor=meteor, parallel=False)
    assert sequential.raw == ours.raw and sequential.per_sample == ours.per_sample
    own_jvm = score_captions(refs, hyps)  # METEOR's JVM started by valor_bench, in a temp dir of its own
    assert own_jvm.raw == ours.raw and own_jvm.per_sample == ours.per_sample
    assert ours.raw == pytest.approx(raw, rel=0, abs=0)
    assert ours.metrics == {k: round(v * 100, 2) for k, v in raw.items()}
    for name, values in each.items():
        assert ours.per_sample[name] == [float(x) * 100 for x in values], name
    assert 0 < ours.metrics["BLEU-4"] < 100 and 0 < ours.metrics["CIDEr"]  # the set exercises every scorer
    available, message = spice_status()
    if not available:  # a one-line reason and how to enable it, no crash and no download attempt
        assert ours.notes == [message] and "\n" not in message and "stanford-corenlp-3.6.0" in message
        assert "SPICE" not in ours.metrics


def test_tokenizer_is_pycocoevalcaps_with_its_file_in_the_job_dir(tmp_path, monkeypatch):
    captions = {
        "a": [{"caption": "A man (in a hat) says: \"Hello, world!\" -- twice..."}, {"caption": "line\nbreak ||| pipes"}],
        "b": [{"caption": "Café naïve résumé; it's 5:30 p.m. -LRB- `quoted' {braces}"}],
        "c": [{"caption": "   spaces   everywhere   ? ! ."}, {"caption": "Dogs' barking & cats' meowing don't stop"}],
    }
    seen = []
    workdir = tmp_path / "job"
    workdir.mkdir(mode=0o700)

    def spy(cmd, signum, **kw):  # the tokenizer's input file, looked at while the JVM runs
        seen.extend((p.name, p.stat().st_mode & 0o777) for p in workdir.iterdir())
        return spawn(cmd, signum, **kw)

    spawn = coco_java.spawn
    monkeypatch.setattr(coco_java, "spawn", spy)
    ours = coco_java.ptb_tokenize(captions, workdir)
    assert ours == PTBTokenizer().tokenize(captions)
    assert len(seen) == 1 and seen[0][0].startswith("ptb-") and seen[0][1] == 0o600, seen
    assert list(workdir.iterdir()) == []


FAKE_SPICE = """#!{python}
import json, os, sys
args = sys.argv[1:]
jar = next(i for i, a in enumerate(args) if a.endswith(".jar"))
with open(os.environ["FAKE_SPICE_LOG"], "a") as log:
    log.write(json.dumps({{"cwd": os.getcwd(), "args": args}}) + "\\n")
items = json.load(open(args[jar + 1]))
out = []
for n, item in enumerate(items):
    f = "NaN" if n == 0 else len(item["test"]) / (1 + sum(map(len, item["refs"])))
    out.append({{"image_id": item["image_id"], "scores": {{"All": {{"pr": 0.5, "re": None, "f": f, "numImages": 1}},
                                                         "Object": {{"pr": 0.25, "re": "x", "f": 0.1, "numImages": 1}}}}}})
json.dump(out, open(args[args.index("-out") + 1], "w"))
"""


def test_spice_is_pycocoevalcaps_with_its_files_in_the_job_dir(tmp_path, monkeypatch):
    """SPICE needs CoreNLP jars this machine lacks: a stand-in ``java`` answers for it, the same one
    for pycocoevalcap's ``Spice`` and for ours, so that the input, command and reading of the output
    are compared (the jar's own numbers are its own)."""
    bin_dir, workdir, log = tmp_path / "bin", tmp_path / "job", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    workdir.mkdir(mode=0o700)
    (bin_dir / "java").write_text(FAKE_SPICE.format(python=sys.executable))
    (bin_dir / "java").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SPICE_LOG", str(log))
    gts = {"b": ["a dog barks", "the dog is barking loudly"], "a": ["a man sings"], "c": ["rain falls"]}
    res = {"a": ["a man is singing"], "b": ["dog"], "c": ["heavy rain on a roof"]}
    package = coco_java.SPICE_JAR.parent
    made = [d for d in (package / "tmp", package / "cache") if not d.exists()]  # Spice makes them, we remove them
    try:
        theirs = Spice.__new__(Spice).compute_score(gts, res)  # __new__: its __init__ downloads CoreNLP
    finally:
        for d in made:
            d.rmdir()
    ours = coco_java.spice_score(gts, res, workdir)
    assert repr(ours) == repr(theirs)  # repr: NaN == NaN (pycocoevalcap averages with np.mean, NaN included)
    assert list(workdir.iterdir()) == [workdir / "spice-cache"]
    their_call, our_call = (json.loads(line) for line in log.read_text().splitlines())
    def shape(args: list[str]) -> list[str]:
        return [a if a.startswith("-") else "<path>" for a in args]

    assert shape(our_call["args"]) == ["-XX:-UsePerfData", *shape(their_call["args"])]
    assert our_call["cwd"] == str(workdir) and our_call["args"] == ["-XX:-UsePerfData", "-jar", "-Xmx8G", str(coco_java.SPICE_JAR),
                                str(workdir / "spice-in.json"), "-cache", str(workdir / "spice-cache"), "-out",
                                str(workdir / "spice-out.json"), "-subset", "-silent"]


@pytest.mark.slow
def test_full_valor32k_test_split_matches_pycocoevalcap(tmp_path):
    """The acceptance run: the CLI on all 3,491 test clips gives pycocoevalcap's numbers."""
    gt = load_ground_truth("test")
    rng = random.Random(0)
    hyps = {v: " ".join(w for w in gt.captions[v][0].split() if rng.random() > 0.3) or "x" for v in gt.video_ids}
    refs = {v: list(gt.captions[v]) for v in gt.video_ids}
    raw, _ = direct(refs, hyps, Meteor())
    sub = tmp_path / "preds.json"
    sub.write_text(json.dumps([{"video_id": v, "caption": hyps[v]} for v in gt.video_ids]))
    res = CliRunner().invoke(main, ["evaluate", str(sub), "--task", "avc", "--json", "--no-spice"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["n"] == 3491 and data["metrics"] == {k: round(v * 100, 2) for k, v in raw.items()}
