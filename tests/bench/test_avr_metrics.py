"""Retrieval ranks and metrics: hand-computed cases, ties, rectangular matrices, several captions per
video, chunked == unchunked, dual softmax, censored ranking lists, bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from valor_bench.avr import matrix_ranks, ranking_ranks, summarize
from valor_bench.formats import SimMatrix, read_avr_matrix


def ranks_of(sim, text_video, **kw):
    return matrix_ranks(SimMatrix.from_array(np.asarray(sim, dtype=np.float32)), np.asarray(text_video), **kw)


def naive(sim: np.ndarray, text_video: list[int]) -> tuple[list[int], list[int]]:
    """The documented rule, written as plainly as possible."""
    n_text, n_video = sim.shape
    t2v = []
    for i in range(n_text):
        target = sim[i, text_video[i]]
        t2v.append(1 + sum(1 for j in range(n_video) if j != text_video[i] and sim[i, j] >= target))
    v2t = []
    for v in range(n_video):
        own = [i for i in range(n_text) if text_video[i] == v]
        if not own:
            v2t.append(0)
            continue
        best = max(sim[i, v] for i in own)
        v2t.append(1 + sum(1 for i in range(n_text) if text_video[i] != v and sim[i, v] >= best))
    return t2v, v2t


def test_hand_computed_square():
    sim = [[0.9, 0.1, 0.3],
           [0.8, 0.5, 0.2],
           [0.1, 0.7, 0.6]]
    r = ranks_of(sim, [0, 1, 2])
    assert r.t2v.tolist() == [1, 2, 2]  # row 1: 0.8 beats 0.5; row 2: 0.7 beats 0.6
    assert r.v2t.tolist() == [1, 2, 1]  # column 1: text 2 (0.7) beats text 1 (0.5)
    s = summarize(r.t2v)
    assert s.metrics == {"R@1": 33.33, "R@5": 100.0, "R@10": 100.0, "MdR": 2.0, "MnR": 1.67}
    assert s.lower_bounds == []


def test_all_equal_scores_give_the_worst_rank_once_per_query():
    n = 7
    r = ranks_of(np.full((n, n), 0.25), list(range(n)))
    assert r.t2v.tolist() == [n] * n  # exactly one rank per query (no CLIP4Clip-style extra ranks)
    assert r.v2t.tolist() == [n] * n
    s = summarize(r.t2v)
    assert s.metrics["R@1"] == 0.0 and s.metrics["MdR"] == n and s.metrics["MnR"] == n


def test_a_tie_never_improves_a_rank():
    sim = [[0.5, 0.5, 0.1, 0.5],
           [0.2, 0.9, 0.9, 0.0]]
    r = ranks_of(sim, [0, 1])
    assert r.t2v.tolist() == [3, 2]  # two other items tie with the target of row 0, one with row 1's


def test_rectangular_several_captions_per_video():
    # videos: 0 has texts 0, 1, 2; video 1 has text 3; video 2 has texts 4, 5.
    text_video = [0, 0, 0, 1, 2, 2]
    sim = np.array([
        [0.2, 0.9, 0.1],   # t0 -> v0: 0.9 beats it: rank 2
        [0.8, 0.3, 0.3],   # t1 -> v0: rank 1
        [0.1, 0.1, 0.1],   # t2 -> v0: ties everywhere: rank 3
        [0.4, 0.3, 0.2],   # t3 -> v1: rank 2
        [0.5, 0.6, 0.55],  # t4 -> v2: 0.6 beats it: rank 2
        [0.0, 0.0, 0.7],   # t5 -> v2: rank 1
    ])
    r = ranks_of(sim, text_video)
    assert r.t2v.tolist() == [2, 1, 3, 2, 1 + 1, 1]
    # v2t: best own caption of v0 is t1 (0.8); other videos' texts >= 0.8: none -> 1.
    # v1: own t3 (0.3); others >= 0.3: t0 (0.9), t1 (0.3, a tie), t4 (0.6) -> 4.
    # v2: best own caption t5 (0.7); none -> 1.
    assert r.v2t.tolist() == [1, 4, 1]
    assert (r.t2v.tolist(), r.v2t.tolist()) == naive(sim, text_video)


def test_video_without_caption_is_a_distractor_not_a_query():
    sim = [[0.5, 0.9, 0.1],
           [0.1, 0.2, 0.3]]
    r = ranks_of(sim, [0, 2])  # video 1 has no caption
    assert r.t2v.tolist() == [2, 1]
    assert r.v2t.tolist() == [1, 0, 1]


@pytest.mark.parametrize("shape", [(57, 23), (23, 23), (40, 9)])
def test_chunked_equals_unchunked_and_naive(shape):
    rng = np.random.default_rng(shape[0])
    n_text, n_video = shape
    text_video = np.concatenate([np.arange(n_video), rng.integers(0, n_video, n_text - n_video)])[:n_text]
    if n_text < n_video:
        text_video = rng.permutation(n_video)[:n_text]
    sim = rng.integers(0, 5, size=shape).astype(np.float32) / 4  # coarse values: plenty of ties
    whole = ranks_of(sim, text_video, dsl_scale=10.0, block_bytes=1 << 30)
    for block in (1, 4 * n_video, 4 * n_video * 5 + 3):
        part = ranks_of(sim, text_video, dsl_scale=10.0, block_bytes=block)
        for name in ("t2v", "v2t", "t2v_dsl", "v2t_dsl"):
            np.testing.assert_array_equal(getattr(part, name), getattr(whole, name), err_msg=f"{name} @ {block}")
    assert (whole.t2v.tolist(), whole.v2t.tolist()) == naive(sim, text_video.tolist())
    assert len(whole.t2v) == n_text and len(whole.v2t) == n_video


def test_dsl_matches_full_matrix_formula_and_is_separate():
    rng = np.random.default_rng(3)
    sim = rng.normal(size=(30, 12)).astype(np.float32)
    text_video = np.concatenate([np.arange(12), rng.integers(0, 12, 18)])
    r = ranks_of(sim, text_video, dsl_scale=20.0, block_bytes=4 * 12 * 7)
    x = sim.astype(np.float64)

    def softmax(a, axis):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    t2v_matrix = x * softmax(20 * x, axis=0)  # prior over texts, per video
    v2t_matrix = x * softmax(20 * x, axis=1)  # prior over videos, per text
    assert r.t2v_dsl.tolist() == naive(t2v_matrix, text_video.tolist())[0]
    assert r.v2t_dsl.tolist() == naive(v2t_matrix, text_video.tolist())[1]
    raw = ranks_of(sim, text_video)  # without dsl the raw ranks are the same and no dsl ranks exist
    np.testing.assert_array_equal(raw.t2v, r.t2v)
    assert raw.t2v_dsl is None and raw.v2t_dsl is None


def test_ranking_lists_censor_missing_targets():
    rankings = [["b", "a", "c"], ["x", "y", "z"], ["c"]]
    ranks, censored = ranking_ranks(rankings, ["a", "a", "c"])
    assert ranks.tolist() == [2, 4, 1] and censored.tolist() == [False, True, False]
    s = summarize(ranks, censored)
    assert s.lower_bounds == ["MnR"]  # the median (2) cannot move, the mean can
    s = summarize(np.array([4, 4, 1]), np.array([True, True, False]))
    assert s.lower_bounds == ["MdR", "MnR"]


def test_npz_is_streamed_in_blocks_with_bounded_memory(tmp_path):
    n = 1200  # 5.8 MB matrix
    rng = np.random.default_rng(5)
    sim = rng.normal(size=(n, n)).astype(np.float32)
    ids = np.array([f"v{i}" for i in range(n)])
    path = tmp_path / "big.npz"
    np.savez_compressed(path, sim=sim, text_ids=ids, video_ids=ids)
    sub = read_avr_matrix(path)
    tracemalloc.start()
    streamed = matrix_ranks(sub.sim, np.arange(n), block_bytes=64 * 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < sim.nbytes / 4, f"peak {peak / 1e6:.1f} MB for a {sim.nbytes / 1e6:.1f} MB matrix"
    whole = matrix_ranks(SimMatrix.from_array(sim), np.arange(n))
    np.testing.assert_array_equal(streamed.t2v, whole.t2v)
    np.testing.assert_array_equal(streamed.v2t, whole.v2t)


def test_fortran_ordered_and_uncompressed_npz_read_the_same(tmp_path):
    rng = np.random.default_rng(9)
    sim = rng.normal(size=(15, 6)).astype(np.float32)
    text_video = np.arange(15) % 6
    ids_t, ids_v = np.array([f"t{i}" for i in range(15)]), np.array([f"v{i}" for i in range(6)])
    expected = ranks_of(sim, text_video)
    for name, array, save in (("c.npz", sim, np.savez), ("f.npz", np.asfortranarray(sim), np.savez_compressed)):
        save(tmp_path / name, sim=array, text_ids=ids_t, video_ids=ids_v)
        sub = read_avr_matrix(tmp_path / name)
        got = matrix_ranks(sub.sim, text_video, block_bytes=4 * 6 * 4)
        np.testing.assert_array_equal(got.t2v, expected.t2v)
        np.testing.assert_array_equal(got.v2t, expected.v2t)
        assert ("Fortran" in " ".join(sub.notes)) == (name == "f.npz")
