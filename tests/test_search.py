"""PCA projection (explorer.analysis.pca), cosine top-k and the neighbour graph (.knn)."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.analysis.knn import (
    approximate_neighbor_graph,
    exact_neighbor_graph,
    neighbor_graph,
    top_k,
)
from explorer.analysis.pca import fit_projection, normalize, project


def _data(n: int = 60, d: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32)


def _blobs(*, seed: int, n: int, d: int, centres: int, spread: float) -> np.ndarray:
    """``n`` unit vectors around ``centres`` random centres (normal noise of sd ``spread``)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, d))
    x = means[rng.integers(0, centres, size=n)] + rng.normal(scale=spread, size=(n, d))
    return normalize(x.astype(np.float32))


def _cosines(v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The cosine of each row of ``v`` with each of its neighbours ``idx[row]`` (unit rows)."""
    rows = np.arange(len(idx)).repeat(idx.shape[1])
    return np.einsum("ij,ij->i", v[rows], v[idx.ravel()]).reshape(idx.shape)


def test_projection_matches_sklearn_and_is_unit() -> None:
    from sklearn.decomposition import PCA

    x = _data()
    proj = fit_projection(x, n_components=10)
    assert proj.components.shape == (10, 40) and proj.mean.shape == (40,)
    ref = PCA(n_components=10, svd_solver="full").fit_transform(x)
    ours = (x - proj.mean) @ proj.components.T
    assert np.allclose(np.abs(ours), np.abs(ref), atol=1e-3)
    v = project(x.astype(np.float16), proj)
    assert v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


def test_projection_leaves_float32_input_alone_and_matches_float16() -> None:
    # PCA centres its input in place when it is explorer's own float32 copy
    # (float16 features); a caller's float32 array must come back untouched.
    x = np.abs(_data(n=600, d=50)).astype(np.float16).astype(np.float32)
    before = x.copy()
    p32 = fit_projection(x, n_components=10)
    assert np.array_equal(x, before)
    p16 = fit_projection(x.astype(np.float16), n_components=10)
    assert np.allclose(p16.mean, p32.mean, atol=1e-6)
    assert np.allclose(np.abs(p16.components), np.abs(p32.components), atol=1e-4)
    assert np.allclose(p16.explained_variance_ratio, p32.explained_variance_ratio, atol=1e-6)


def test_projection_lowers_components_for_tiny_data() -> None:
    proj = fit_projection(_data(n=5), n_components=300)
    assert proj.n_components == 5
    with pytest.raises(ValueError, match="n_components"):
        fit_projection(_data(), n_components=0)


def test_top_k_excludes_self_and_sorts() -> None:
    v = normalize(_data())
    idx, sc = top_k(v[:7], v, k=5, exclude=np.arange(7))
    assert idx.shape == (7, 5) and np.all(idx >= 0)
    assert not np.any(idx == np.arange(7)[:, None])
    assert np.all(np.diff(sc, axis=1) <= 1e-7)
    assert np.all((sc >= -1) & (sc <= 1))
    brute = v[:7] @ v.T
    np.fill_diagonal(brute[:, :7], -np.inf)
    assert np.allclose(sc[:, 0], brute.max(axis=1), atol=1e-6)
    # without exclusion a vector's nearest neighbour is itself
    idx, sc = top_k(v[:3], v, k=1)
    assert list(idx[:, 0]) == [0, 1, 2] and np.allclose(sc[:, 0], 1, atol=1e-5)


def test_neighbor_graph_equals_brute_force_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import explorer.analysis.knn as knn

    monkeypatch.setattr(knn, "_BLOCK_ROWS", 16)  # force several blocks
    v = normalize(_data(n=70))
    v[5] = v[6]  # a duplicate pair: each is the other's nearest neighbour
    idx, sc = neighbor_graph(v, k=4)
    assert idx.shape == (70, 4) and idx.dtype == np.int32
    assert idx[5, 0] == 6 and idx[6, 0] == 5 and sc[5, 0] == pytest.approx(1.0, abs=1e-5)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    assert np.allclose(sc, -np.sort(-sims, axis=1)[:, :4], atol=1e-5)


def test_tiny_graphs() -> None:
    one = normalize(_data(n=1))
    idx, _ = neighbor_graph(one, k=5)
    assert idx.shape == (1, 0)
    two = normalize(_data(n=2))
    idx, _ = neighbor_graph(two, k=5)
    assert idx.tolist() == [[1], [0]]


def test_top_k_on_tiny_index_drops_only_the_excluded_row() -> None:
    v = normalize(_data(n=3))
    idx, _ = top_k(v[:2], v, k=5, exclude=np.array([0, -1]))
    assert sorted(idx[0][idx[0] >= 0].tolist()) == [1, 2]
    assert sorted(idx[1].tolist()) == [0, 1, 2]


def test_neighbor_graph_is_exact_up_to_the_limit_then_approximate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Which search runs, with which k and seed, and that the rows are counted either way."""
    import explorer.analysis.knn as knn

    calls: list[tuple[int, int, int]] = []

    def fake(vectors: np.ndarray, *, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        calls.append((len(vectors), k, seed))
        n = len(vectors)
        return np.full((n, k), -1, dtype=np.int32), np.full((n, k), -1.0, dtype=np.float32)

    monkeypatch.setattr(knn, "approximate_neighbor_graph", fake)
    v = normalize(_data(n=50))
    done: list[int] = []
    exact = neighbor_graph(v, k=4, exact_limit=50, progress=done.append)
    assert calls == [] and sum(done) == 50
    assert np.array_equal(exact[0], exact_neighbor_graph(v, k=4)[0])
    done.clear()
    approx = neighbor_graph(v, k=4, exact_limit=49, seed=3, progress=done.append)
    assert calls == [(50, 4, 3)] and sum(done) == 50
    assert np.all(approx[0] == -1)  # what the approximate search returned, passed through
    with pytest.raises(ValueError, match="exact_limit"):
        neighbor_graph(v, k=4, exact_limit=-1)


@pytest.mark.slow  # pynndescent compiles its numba code on first use (about 40 s)
def test_neighbor_graph_above_the_limit_finds_the_exact_neighbours() -> None:
    """The real NN-descent, forced by a low limit, against the exact graph: recall >= 0.9."""
    v = _blobs(seed=4, n=800, d=48, centres=12, spread=0.8)
    exact, _ = neighbor_graph(v, k=10)
    approx, scores = neighbor_graph(v, k=10, exact_limit=100, seed=0)
    assert approx.shape == exact.shape == (800, 10)
    assert not np.any(approx == np.arange(800)[:, None])  # never itself
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.9, f"recall@10 {recall:.3f}"
    found = approx >= 0  # real cosines, best first
    assert np.allclose(scores[found], _cosines(v, approx)[found], atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.slow  # pynndescent compiles its numba code on first use (about 40 s)
def test_approximate_graph_finds_nearly_all_exact_neighbours() -> None:
    v = _blobs(seed=1, n=3000, d=64, centres=30, spread=0.9)
    v[7] = v[8]  # an identical pair: each must find the other, never itself
    ex_idx, _ = exact_neighbor_graph(v, k=15)
    idx, sc = approximate_neighbor_graph(v, k=15, seed=0)
    assert idx.shape == sc.shape == (3000, 15) and idx.dtype == np.int32
    assert np.all(idx >= 0) and not np.any(idx == np.arange(3000)[:, None])
    assert np.all(np.diff(sc, axis=1) <= 0)  # best first
    assert np.allclose(sc, _cosines(v, idx), atol=1e-5)  # scores are the real cosines
    assert idx[7, 0] == 8 and idx[8, 0] == 7
    recall5 = np.mean([len(set(a[:5]) & set(e[:5])) / 5 for a, e in zip(idx, ex_idx, strict=True)])
    assert recall5 >= 0.95, f"recall@5 {recall5:.3f}"
    again, again_sc = approximate_neighbor_graph(v, k=15, seed=0)
    assert np.array_equal(again, idx) and np.array_equal(again_sc, sc)  # seeded: same graph
    tiny, _ = approximate_neighbor_graph(v[:3], k=15)
    assert sorted(tiny[0].tolist()) == [1, 2]


@pytest.mark.slow
def test_graph_and_top_k_never_build_an_n_by_n_matrix() -> None:
    """Both work in blocks of rows: memory grows linearly in n, never as n x n."""
    import tracemalloc

    peaks = {}
    for n in (3000, 12000):
        vectors = normalize(np.random.default_rng(3).normal(size=(n, 32)).astype(np.float32))
        for name in ("graph", "top_k"):
            tracemalloc.start()
            try:
                if name == "graph":
                    nbrs, _ = neighbor_graph(vectors, k=15)
                else:
                    idx, _ = top_k(vectors, vectors, k=5, exclude=np.arange(n))
                _, peaks[name, n] = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert not np.any(nbrs == np.arange(n)[:, None])  # each point's own row excluded
        assert np.array_equal(idx, nbrs[:, :5])  # the same exact neighbours either way
    for name in ("graph", "top_k"):
        small, large = peaks[name, 3000], peaks[name, 12000]
        assert large < 6 * small, f"{name}: {small / 1e6:.0f} MB -> {large / 1e6:.0f} MB for 4x n"
        assert large < 12000 * 12000 * 4 / 2, f"{name}: peak {large / 1e6:.0f} MB"  # half of n x n
