"""Fixtures for the valor-bench tests: a tiny ground truth of real AudioSet clip ids (so the label join
and the breakdown have something to show), with one clip carrying several captions."""

from __future__ import annotations

import json
import random
from itertools import islice

import numpy as np
import pytest

from valor_data.clip import ClipRef
from valor_data.inputs import read_audioset_csv
from valor_data.resources import audioset_segments_paths

WORDS = ("a man is playing the guitar while a woman sings loudly in a small room with dogs barking "
         "outside and cars passing by on the wet street as rain falls and people talk").split()


def _real_clips(n: int) -> list[ClipRef]:
    eval_csv = audioset_segments_paths()[1]
    return [c for c in islice(read_audioset_csv(eval_csv), n) if isinstance(c, ClipRef)]


def _sentence(rng: random.Random, lo: int = 6, hi: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


@pytest.fixture(scope="session")
def clips() -> list[ClipRef]:
    return _real_clips(12)


@pytest.fixture(scope="session")
def annotations(tmp_path_factory, clips) -> dict:
    """12 clips; clip 2 has three captions, clip 5 two; captions are generated sentences."""
    rng = random.Random(7)
    records = []
    for i, clip in enumerate(clips):
        n_caps = {2: 3, 5: 2}.get(i, 1)
        caps = [_sentence(rng).capitalize() + "." for _ in range(n_caps)]
        records.append({"video_id": clip.clip_id, "desc": caps if n_caps > 1 else caps[0]})
    path = tmp_path_factory.mktemp("gt") / "tiny.json"
    path.write_text(json.dumps(records))
    return {"path": path, "records": records}


@pytest.fixture
def gt(annotations):
    from valor_bench.ground_truth import load_ground_truth

    return load_ground_truth(annotations=annotations["path"])


@pytest.fixture
def write_json(tmp_path):
    def write(obj, name: str = "sub.json") -> str:
        path = tmp_path / name
        if name.endswith(".jsonl"):
            path.write_text("\n".join(json.dumps(x) for x in obj) + "\n")
        else:
            path.write_text(json.dumps(obj))
        return str(path)

    return write


@pytest.fixture
def good_sim(gt):
    """A matrix whose true pairs score highest, with all ids canonical."""
    text_ids, text_video = gt.text_ids(), gt.text_video()
    rng = np.random.default_rng(0)
    sim = rng.uniform(0, 0.5, size=(len(text_ids), gt.n_clips)).astype(np.float32)
    for i, v in enumerate(text_video):
        sim[i, gt.video_ids.index(v)] = 1.0
    return sim, text_ids, list(gt.video_ids)


@pytest.fixture
def write_npz(tmp_path):
    def write(name: str = "sub.npz", compressed: bool = True, **arrays) -> str:
        path = tmp_path / name
        (np.savez_compressed if compressed else np.savez)(path, **arrays)
        return str(path)

    return write


@pytest.fixture
def sentence():
    rng = random.Random(11)
    return lambda: _sentence(rng)
