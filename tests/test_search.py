"""PCA projection, cosine top-k and the neighbour graph."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.search import fit_projection, neighbor_graph, normalize, project, top_k


def _data(n: int = 60, d: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32)


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
    import explorer.search as search

    monkeypatch.setattr(search, "_BLOCK_ROWS", 16)  # force several blocks
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
