"""Clustering, the 2-D map, near-duplicate groups and representatives."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import adjusted_rand_score

from explorer.analysis.clustering import Clustering, cluster, representatives
from explorer.analysis.duplicates import DuplicateGroup, edge_scores, find_duplicates
from explorer.analysis.keepers import keeper_sets
from explorer.analysis.knn import neighbor_graph
from explorer.analysis.layout import embed_2d
from explorer.analysis.pca import normalize
from explorer.errors import UsageError
from explorer.features.base import DEFAULT_DUP_THRESHOLD
from explorer.store.records import ImageRecord


def blobs(
    n_per: int, n_blobs: int, *, dim: int = 40, spread: float = 0.15, seed: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Unit vectors around ``n_blobs`` random directions, well separated."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_blobs, dim))
    truth = np.repeat(np.arange(n_blobs), n_per)
    x = centres[truth] / np.linalg.norm(centres[truth], axis=1, keepdims=True)
    x = x + rng.normal(scale=spread / np.sqrt(dim), size=x.shape)
    return normalize(x.astype(np.float32)), truth


def test_importing_analysis_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, explorer.analysis.stored, explorer.jobs.report, explorer.page.render;"
        "bad = [m for m in ('umap', 'bokeh', 'sklearn', 'tensorflow') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_auto_k_finds_separable_blobs() -> None:
    x, truth = blobs(30, 5)
    result = cluster(x, seed=0)
    assert result.method == "silhouette"
    assert result.k == 5
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.labels.dtype == np.int32 and result.labels.shape == (150,)
    assert result.centers.dtype == np.float32 and result.centers.shape == (5, 40)
    assert set(result.candidates) == set(range(2, 13))  # up to sqrt(150) = 12
    assert result.silhouette is not None and result.silhouette == pytest.approx(
        result.candidates[5], abs=1e-6
    )
    assert max(result.candidates.values()) == result.candidates[5]
    assert result.sizes() == [30] * 5


def test_auto_k_on_a_sample_still_finds_the_blobs() -> None:
    x, truth = blobs(60, 4, seed=3)
    result = cluster(x, sample_size=50, k_max=8, seed=1)
    assert result.k == 4
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert set(result.candidates) == set(range(2, 9))


def test_fixed_k() -> None:
    x, truth = blobs(20, 3)
    result = cluster(x, n_clusters=3)
    assert (result.method, result.k, result.candidates) == ("fixed", 3, {})
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.silhouette is not None and 0.5 < result.silhouette <= 1.0


def test_same_seed_same_labels() -> None:
    x, _ = blobs(25, 6, spread=0.9, seed=7)
    a = cluster(x, seed=4)
    b = cluster(x, seed=4)
    assert a.k == b.k
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centers, b.centers)
    assert a.candidates == b.candidates


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": 11}, "n_clusters"),
        ({"k_min": 1}, "k_min"),
        ({"k_min": 5, "k_max": 4}, "k_max"),
        ({"sample_size": 5}, "sample_size"),
    ],
)
def test_cluster_rejects_bad_parameters(kwargs: dict[str, int], name: str) -> None:
    x, _ = blobs(5, 2)
    with pytest.raises(ValueError, match=name):
        cluster(x, **kwargs)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_tiny_collections_do_not_crash(n: int) -> None:
    x, _ = blobs(n, 1, seed=n)
    nbrs, scores = neighbor_graph(x, k=5)
    result = cluster(x)
    assert result.labels.shape == (n,)
    assert 1 <= result.k <= max(1, n - 1)
    if n < 3:
        assert (result.k, result.method, result.silhouette) == (1, "single", None)
    coords = embed_2d(x, neighbors=nbrs, scores=scores)
    assert coords.shape == (n, 2) and coords.dtype == np.float32
    assert np.all(np.isfinite(coords))
    np.testing.assert_array_equal(coords, embed_2d(x, neighbors=nbrs, scores=scores))
    assert find_duplicates(nbrs, scores, threshold=1.0) == []
    reps = representatives(x, result)
    assert sorted(i for r in reps for i in r) == list(range(n))


def test_identical_vectors_fall_back_to_one_cluster() -> None:
    x = normalize(np.ones((6, 4), dtype=np.float32))
    result = cluster(x)
    assert result.k == 1
    assert result.silhouette is None


def test_embed_2d_same_seed_same_map_and_keeps_blobs_apart() -> None:
    x, truth = blobs(40, 3, seed=2)
    nbrs, scores = neighbor_graph(x, k=15)
    a = embed_2d(x, neighbors=nbrs, scores=scores, seed=3)
    b = embed_2d(x, neighbors=nbrs, scores=scores, seed=3)
    assert a.shape == (120, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # Each point's nearest point on the map belongs to the same blob.
    d = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert np.mean(truth[d.argmin(1)] == truth) == 1.0


def test_embed_2d_lowers_n_neighbors_to_the_graph(caplog: pytest.LogCaptureFixture) -> None:
    x, _ = blobs(10, 2)
    nbrs, scores = neighbor_graph(x, k=5)
    coords = embed_2d(x, neighbors=nbrs, scores=scores, n_neighbors=15)
    assert coords.shape == (20, 2)
    assert "n_neighbors=6" in caplog.text


def test_embed_2d_validates() -> None:
    x, _ = blobs(10, 1)
    nbrs, scores = neighbor_graph(x, k=3)
    with pytest.raises(ValueError, match="n_neighbors"):
        embed_2d(x, neighbors=nbrs, scores=scores, n_neighbors=1)
    with pytest.raises(ValueError, match="neighbors"):
        embed_2d(x, neighbors=nbrs[:5], scores=scores[:5])


@pytest.mark.slow
def test_embed_2d_never_builds_an_n_by_n_matrix() -> None:
    # Without a precomputed graph umap would compute all pairwise distances for
    # n < 4096 (a 3000 x 3000 float32 matrix is 36 MB); numpy allocations are
    # traced, so the peak must stay far below that.
    n = 3000
    x, _ = blobs(n // 6, 6, dim=50, spread=0.8, seed=5)
    nbrs, scores = neighbor_graph(x, k=15)
    warm_nbrs, warm_scores = neighbor_graph(x[:50], k=15)
    embed_2d(x[:50], neighbors=warm_nbrs, scores=warm_scores)  # compile numba outside the trace
    tracemalloc.start()
    try:
        coords = embed_2d(x, neighbors=nbrs, scores=scores)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert coords.shape == (n, 2)
    assert peak < n * n * 4 / 3, f"peak traced memory {peak / 1e6:.1f} MB"


def hand_graph() -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """8 images: {0, 1, 2} joined by a chain, {5, 6} a pair, the rest unrelated."""
    nbrs = np.array(
        [[1, 3], [0, 2], [1, 7], [4, 0], [3, 5], [6, 4], [5, 7], [2, 6]], dtype=np.int32
    )
    scores = np.array(
        [
            [0.97, 0.40],
            [0.97, 0.95],
            [0.95, 0.30],
            [0.91, 0.40],
            [0.91, 0.20],
            [0.99, 0.20],
            [0.99, 0.10],
            [0.30, 0.10],
        ],
        dtype=np.float32,
    )
    return nbrs, scores


def test_a_chain_never_makes_one_group() -> None:
    # 0 ~ 1 ~ 2 above the threshold, 0 and 2 below it (0.40 is not an edge here)
    nbrs, scores = hand_graph()
    groups = find_duplicates(nbrs, scores, threshold=0.92)
    assert [g.members for g in groups] == [[0, 1], [5, 6]]  # 1 went with its best partner
    assert [(i, j) for i, j, _ in groups[0].pairs] == [(0, 1)]
    assert groups[0].pairs[0][2] == pytest.approx(0.97)
    assert all(isinstance(g, DuplicateGroup) and not g.exact for g in groups)
    members = [i for g in groups for i in g.members]
    assert len(members) == len(set(members))  # an image belongs to at most one group


def test_a_chain_of_feature_vectors_never_makes_one_group() -> None:
    # A, B, C along an arc: cos(A, B) = cos(B, C) = 0.95, cos(A, C) = 0.805
    angle = np.arccos(0.95)
    x = np.array([[np.cos(t * angle), np.sin(t * angle), 0.0] for t in range(3)], np.float32)
    x = np.vstack([x, [[0.0, 0.0, 1.0]]]).astype(np.float32)
    nbrs, scores = neighbor_graph(x, k=3)
    groups = find_duplicates(nbrs, scores, threshold=0.9, features=x)
    assert len(groups) == 1 and len(groups[0].members) == 2
    assert {0, 2} - set(groups[0].members)  # A and C are never together
    # every pair inside a group reaches the threshold (complete linkage)
    x2 = np.vstack([x[:3], x[:3] + 0.01]).astype(np.float32)
    nbrs, scores = neighbor_graph(normalize(x2), k=5)
    for g in find_duplicates(nbrs, scores, threshold=0.9, features=x2):
        unit = normalize(x2[g.members])
        assert (unit @ unit.T).min() >= 0.9 - 1e-6


def test_exact_copies_join_their_near_duplicates_as_one_picture() -> None:
    # 0 and 3 are byte-identical; 0 ~ 1 and 3 ~ 2 are near pairs, 1 and 2 score 0.88
    x = normalize(np.array([[1, 0, 0], [0.97, 0.24, 0], [0.97, -0.24, 0], [1, 0, 0]], np.float32))
    nbrs, scores = neighbor_graph(x, k=3)
    groups = find_duplicates(
        nbrs, scores, threshold=0.9, hashes=["h0", "h1", "h2", "h0"], features=x
    )
    # the twins stand together: 1 joins both (it scores with 3 what it scores with 0);
    # 2 does not, since every two members must be near-duplicates and 1 ~ 2 fails
    assert len(groups) == 1 and not groups[0].exact
    assert groups[0].members in ([0, 1, 3], [0, 2, 3])
    other = 1 if 1 in groups[0].members else 2
    pairs = {(a, b): s for a, b, s in groups[0].pairs}
    assert set(pairs) == {(0, 3), (0, other), (other, 3)}  # every pair of members
    assert pairs[(0, 3)] == 1.0
    assert pairs[(0, other)] == pytest.approx(pairs[(other, 3)])
    # twins with no near-duplicate are an exact group of their own
    far = normalize(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32))
    nbrs, scores = neighbor_graph(far, k=3)
    groups = find_duplicates(
        nbrs, scores, threshold=0.9, hashes=["h0", "h1", "h2", "h0"], features=far
    )
    assert [(g.members, g.pairs, g.exact) for g in groups] == [([0, 3], [(0, 3, 1.0)], True)]


def test_twins_in_a_near_group_are_marked_and_the_group_is_not_exact() -> None:
    records = [
        ImageRecord(path=p, size=1000, mtime_ns=t, sha256=h, width=100, height=80)
        for p, t, h in [("a.png", 1, "h0"), ("b-small.png", 3, "h1"), ("a-copy.png", 2, "h0")]
    ]
    group = DuplicateGroup(
        members=[0, 1, 2], pairs=[(0, 1, 0.9), (0, 2, 1.0), (1, 2, 0.9)], exact=False
    )
    (s,) = keeper_sets(records, [group])
    assert not s.exact
    assert [(Path(m.path).name, m.keep, m.exact) for m in s.members] == [
        ("a.png", True, True),
        ("b-small.png", False, False),
        ("a-copy.png", False, True),  # named as a copy: last
    ]


def test_verify_rejects_pairs_the_embedding_cannot_tell_apart() -> None:
    nbrs, scores = hand_graph()
    assert [g.members for g in find_duplicates(nbrs, scores, threshold=0.92)] == [[0, 1], [5, 6]]
    groups = find_duplicates(nbrs, scores, threshold=0.92, verify=lambda a, b: {a, b} != {0, 1})
    assert [g.members for g in groups] == [[1, 2], [5, 6]]


def test_find_duplicates_threshold_is_inclusive_and_orders_groups() -> None:
    nbrs, scores = hand_graph()
    groups = find_duplicates(nbrs, scores, threshold=float(np.float32(0.91)))
    assert [g.members for g in groups] == [[0, 1], [3, 4], [5, 6]]
    assert find_duplicates(nbrs, scores, threshold=1.0) == []
    assert 0.5 < DEFAULT_DUP_THRESHOLD < 1.0


def test_find_duplicates_ignores_self_and_missing_edges() -> None:
    nbrs = np.array([[0, -1], [0, 2], [1, 0]], dtype=np.int32)
    scores = np.array([[1.0, 1.0], [0.96, 0.93], [0.93, 0.5]], dtype=np.float32)
    groups = find_duplicates(nbrs, scores)
    # (0, 2) is not in the graph, so 2 cannot join 0 and 1
    assert [g.members for g in groups] == [[0, 1]]
    assert [(i, j) for i, j, _ in groups[0].pairs] == [(0, 1)]


def test_find_duplicates_validates() -> None:
    nbrs, scores = hand_graph()
    for bad in (1.5, 0.0, -0.5, float("nan")):  # the one range, (0, 1]
        with pytest.raises(UsageError, match=r"threshold must be in \(0, 1\]"):
            find_duplicates(nbrs, scores, threshold=bad)
    with pytest.raises(ValueError, match="shape"):
        find_duplicates(nbrs, scores[:, :1])
    with pytest.raises(ValueError, match="features"):
        find_duplicates(nbrs, scores, features=np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="hashes"):
        find_duplicates(nbrs, scores, hashes=["a"])


def test_find_duplicates_on_a_real_graph() -> None:
    x, _ = blobs(10, 3, spread=0.6)
    x = normalize(np.vstack([x, x[4:5] + 1e-3]).astype(np.float32))
    nbrs, scores = neighbor_graph(x, k=5)
    groups = find_duplicates(nbrs, scores, threshold=0.999, features=x)
    assert [g.members for g in groups] == [[4, 30]]


def test_edge_scores_match_a_direct_cosine() -> None:
    rng = np.random.default_rng(3)
    f = rng.random((50, 7)).astype(np.float16)
    nbrs, _ = neighbor_graph(normalize(f.astype(np.float32)), k=4)
    nbrs[0, 0] = -1
    got = edge_scores(f, nbrs)
    unit = normalize(f.astype(np.float32))
    want = np.einsum("nd,nkd->nk", unit, unit[nbrs])
    ok = nbrs >= 0
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-5)
    assert got[0, 0] == -1.0


def test_representatives_are_members_nearest_the_centre() -> None:
    x, _ = blobs(12, 3, spread=0.8, seed=1)
    result = cluster(x, n_clusters=3)
    reps = representatives(x, result, per_cluster=4)
    assert len(reps) == 3
    for c, rep in enumerate(reps):
        members = np.flatnonzero(result.labels == c)
        assert len(rep) == min(4, members.size)
        assert set(rep) <= set(members.tolist())
        centre = result.centers[c] / np.linalg.norm(result.centers[c])
        sims = x[members] @ centre
        best = members[np.argsort(-sims, kind="stable")][: len(rep)]
        assert rep == best.tolist()
        assert list(x[rep] @ centre) == sorted(x[rep] @ centre, reverse=True)


def test_representatives_of_an_empty_cluster_and_validation() -> None:
    x, _ = blobs(3, 1)
    clustering = Clustering(
        labels=np.array([0, 0, 2], dtype=np.int32),
        centers=np.vstack([x[0], x[1], x[2]]).astype(np.float32),
        k=3,
        method="fixed",
        silhouette=None,
        candidates={},
    )
    assert representatives(x, clustering) == [[0, 1], [], [2]]
    with pytest.raises(ValueError, match="per_cluster"):
        representatives(x, clustering, per_cluster=0)
