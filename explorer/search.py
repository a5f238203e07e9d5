"""PCA projection, cosine top-k and the neighbour graph.

Everything here works on plain arrays. PCA is fitted with scikit-learn but kept
as two arrays (``mean`` and ``components``) and applied by hand, so an index
never needs pickle. Vectors are L2-normalised after projection, so a dot
product is a cosine similarity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

PCA_COMPONENTS = 300
_BLOCK_ROWS = 1024
_EPS = 1e-12


@dataclass(frozen=True)
class Projection:
    """A fitted PCA, stored as arrays.

    Attributes:
        mean: ``(d,)`` feature mean subtracted before projecting.
        components: ``(c, d)`` principal axes, one per row.
        explained_variance_ratio: ``(c,)`` share of variance each axis explains.
    """

    mean: NDArray[np.float32]
    components: NDArray[np.float32]
    explained_variance_ratio: NDArray[np.float32]

    @property
    def n_components(self) -> int:
        """Number of principal axes kept."""
        return int(self.components.shape[0])


def fit_projection(
    features: NDArray[np.floating], *, n_components: int = PCA_COMPONENTS, seed: int = 0
) -> Projection:
    """Fit PCA on raw features.

    Args:
        features: ``(n, d)`` raw backbone features (any float dtype).
        n_components: Wanted number of components; lowered to what the data
            allows (``min(n, d)``) with a log message when there are fewer images.
        seed: Seed of the randomized solver.

    Returns:
        The fitted projection.

    Raises:
        ValueError: If ``features`` is empty or ``n_components`` is below 1.
    """
    from sklearn.decomposition import PCA

    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    n, d = features.shape
    if n == 0:
        raise ValueError("cannot fit PCA on zero images")
    allowed = min(n, d)
    if n_components > allowed:
        log.info("only %d images: using %d PCA components instead of %d", n, allowed, n_components)
        n_components = allowed
    x = np.asarray(features, dtype=np.float32)
    if n < 2:  # nothing varies: one axis, and every vector projects to zero
        return Projection(
            mean=x.mean(axis=0),
            components=np.eye(1, d, dtype=np.float32),
            explained_variance_ratio=np.zeros(1, dtype=np.float32),
        )
    solver = "randomized" if n_components < 0.8 * allowed and n > 500 else "full"
    pca = PCA(n_components=n_components, svd_solver=solver, random_state=seed)
    pca.fit(x)
    return Projection(
        mean=pca.mean_.astype(np.float32),
        components=pca.components_.astype(np.float32),
        explained_variance_ratio=pca.explained_variance_ratio_.astype(np.float32),
    )


def project(features: NDArray[np.floating], projection: Projection) -> NDArray[np.float32]:
    """Project raw features with a stored PCA and L2-normalise the result.

    Works block by block, so memory-mapped float16 features are never copied whole.

    Args:
        features: ``(n, d)`` raw features.
        projection: The fitted PCA.

    Returns:
        ``(n, c)`` unit vectors (an all-zero row stays zero).
    """
    n = features.shape[0]
    out = np.empty((n, projection.n_components), dtype=np.float32)
    for start in range(0, n, _BLOCK_ROWS * 4):
        block = np.asarray(features[start : start + _BLOCK_ROWS * 4], dtype=np.float32)
        out[start : start + len(block)] = (block - projection.mean) @ projection.components.T
    return normalize(out)


def normalize(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Return rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: NDArray[np.float32] = (vectors / np.maximum(norms, _EPS)).astype(np.float32, copy=False)
    return out


def top_k(
    queries: NDArray[np.float32],
    vectors: NDArray[np.float32],
    *,
    k: int,
    exclude: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Cosine top-k of each query among ``vectors`` (both unit-normalised).

    Args:
        queries: ``(q, c)`` unit query vectors.
        vectors: ``(n, c)`` unit index vectors.
        k: Number of neighbours wanted; fewer come back when the index is smaller.
        exclude: Optional ``(q,)`` row of ``vectors`` to leave out for each
            query (the query itself, when it is indexed); ``-1`` excludes nothing.

    Returns:
        ``(indices, scores)``, each ``(q, min(k, n))`` sorted by decreasing score;
        an excluded row that would have been among them comes last with index -1.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = vectors.shape[0]
    q = queries.shape[0]
    kk = min(k, n)
    if kk <= 0 or q == 0:
        return np.empty((q, 0), dtype=np.int64), np.empty((q, 0), dtype=np.float32)
    idx_out = np.empty((q, kk), dtype=np.int64)
    score_out = np.empty((q, kk), dtype=np.float32)
    for start in range(0, q, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, q)
        sims = queries[start:stop] @ np.asarray(vectors, dtype=np.float32).T
        if exclude is not None:
            rows = np.arange(stop - start)
            ex = exclude[start:stop]
            mask = ex >= 0
            sims[rows[mask], ex[mask]] = -np.inf
        idx, sc = _best(sims, kk)
        idx[np.isneginf(np.take_along_axis(sims, idx, axis=1))] = -1
        idx_out[start:stop] = idx
        score_out[start:stop] = sc
    return idx_out, score_out


def neighbor_graph(
    vectors: NDArray[np.float32],
    *,
    k: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Exact cosine k-nearest-neighbour graph, excluding each point itself.

    Computed block by block (``1024 x n`` similarities at a time), so memory stays
    linear in ``n``; no ``n x n`` matrix is ever allocated.

    Args:
        vectors: ``(n, c)`` unit vectors.
        k: Neighbours per point; lowered to ``n - 1`` for tiny collections.
        progress: Called with the number of rows finished after each block.

    Returns:
        ``(indices, scores)``, each ``(n, min(k, n - 1))``, sorted by decreasing
        cosine similarity.
    """
    n = vectors.shape[0]
    kk = min(k, n - 1)
    if kk <= 0:
        return np.empty((n, 0), dtype=np.int32), np.empty((n, 0), dtype=np.float32)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    indices = np.empty((n, kk), dtype=np.int32)
    scores = np.empty((n, kk), dtype=np.float32)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        sims = x[start:stop] @ x.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        idx, sc = _best(sims, kk)
        indices[start:stop] = idx
        scores[start:stop] = sc
        if progress is not None:
            progress(stop - start)
    return indices, scores


def _best(sims: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Top-k columns of each row of ``sims``, sorted by decreasing value (ties by index)."""
    if k < sims.shape[1]:
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(sims.shape[1]), sims.shape).copy()
    part_scores = np.take_along_axis(sims, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    return idx.astype(np.int64), np.clip(np.take_along_axis(sims, idx, axis=1), -1.0, 1.0)
