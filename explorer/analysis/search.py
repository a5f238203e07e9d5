"""PCA projection, cosine top-k and the neighbour graph.

Everything here works on plain arrays. PCA is fitted with scikit-learn but kept
as two arrays (``mean`` and ``components``) and applied by hand, so an index
never needs pickle. Vectors are L2-normalised after projection, so a dot
product is a cosine similarity.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from explorer.store.records import Projection

log = logging.getLogger(__name__)

PCA_COMPONENTS = 300
_BLOCK_ROWS = 1024
EXACT_GRAPH_LIMIT = 50_000
"""Most images for which :func:`neighbor_graph` is exact; above it, NN-descent.

The exact graph's cost grows with ``n**2``: on 2 cores about 1 s for 10,000
images, 4 s for 20,000, 28 s for 50,000 and 110 s for 100,000. NN-descent grows
about as ``n log n`` (15 s for 100,000) but pays about 40 s once per process to
compile, so the two cost about the same between 50,000 and 70,000 images; above
that the exact graph runs away (about 450 s for 200,000). On 100,000 clustered
images NN-descent finds 97% of the exact top-5 neighbours and every
near-duplicate pair (``docs/performance.md``, "Post-processing at scale").
"""
_EPS = 1e-12


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
    if n < 2 or not bool(np.any(x.max(axis=0) != x.min(axis=0))):
        return _constant_projection(x.mean(axis=0))
    solver = "randomized" if n_components < 0.8 * allowed and n > 500 else "full"
    # When x is our own float32 copy, let PCA centre it in place: one (n, d)
    # float32 array fewer at the peak (1.6 GB for 100,000 VGG16 features).
    own = x is not features and not np.may_share_memory(x, features)
    pca = PCA(n_components=n_components, svd_solver=solver, random_state=seed, copy=not own)
    pca.fit(x)
    del x
    components = pca.components_.astype(np.float32)
    ratio = pca.explained_variance_ratio_.astype(np.float32)
    keep = np.isfinite(ratio) & np.isfinite(components).all(axis=1)
    if not keep.any():  # zero total variance (float noise aside): nothing to project onto
        return _constant_projection(pca.mean_.astype(np.float32))
    return Projection(
        mean=pca.mean_.astype(np.float32),
        components=components[keep],
        explained_variance_ratio=ratio[keep],
    )


def _constant_projection(mean: NDArray[np.float32]) -> Projection:
    """A projection for features that do not vary: every such image gets the same unit vector.

    PCA of identical rows has no axis (scikit-learn's variance ratios are 0/0,
    NaN) and every centred row is zero, so identical images would score 0.0
    against each other. One axis ``u`` (the mean's direction) with the mean
    moved back by ``u`` maps each of them to ``1``: they score 1.0, as copies should.
    """
    d = mean.shape[0]
    norm = float(np.linalg.norm(mean))
    if np.isfinite(norm) and norm > 1e-12:
        axis = (mean / norm).astype(np.float32)
    else:
        axis = np.eye(1, d, dtype=np.float32)[0]
    return Projection(
        mean=(mean - axis).astype(np.float32),
        components=axis[None, :],
        explained_variance_ratio=np.zeros(1, dtype=np.float32),
    )


def project(
    features: NDArray[np.floating],
    projection: Projection,
    *,
    progress: Callable[[int], None] | None = None,
) -> NDArray[np.float32]:
    """Project raw features with a stored PCA and L2-normalise the result.

    Works block by block, so memory-mapped float16 features are never copied whole.

    Args:
        features: ``(n, d)`` raw features.
        projection: The fitted PCA.
        progress: Called with the number of rows projected after each block.

    Returns:
        ``(n, c)`` unit vectors (an all-zero row stays zero).
    """
    n = features.shape[0]
    out = np.empty((n, projection.n_components), dtype=np.float32)
    for start in range(0, n, _BLOCK_ROWS * 4):
        block = np.asarray(features[start : start + _BLOCK_ROWS * 4], dtype=np.float32)
        out[start : start + len(block)] = (block - projection.mean) @ projection.components.T
        if progress is not None:
            progress(len(block))
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
    exact_limit: int = EXACT_GRAPH_LIMIT,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Cosine k-nearest-neighbour graph, excluding each point itself.

    Up to ``exact_limit`` points the graph is exact (:func:`exact_neighbor_graph`,
    whose cost grows with ``n**2``); above it, it is approximate
    (:func:`approximate_neighbor_graph`, NN-descent, about ``n log n``). Neither
    allocates an ``n x n`` matrix.

    Args:
        vectors: ``(n, c)`` unit vectors.
        k: Neighbours per point; lowered to ``n - 1`` for tiny collections.
        exact_limit: Most points for which the exact graph is computed (>= 0).
        seed: Seed of the approximate search (unused by the exact one).
        progress: Called with the number of rows finished: after each block of
            the exact graph, once at the end of the approximate one (pynndescent
            has no progress callback).

    Returns:
        ``(indices, scores)``, each ``(n, min(k, n - 1))``, sorted by decreasing
        cosine similarity (ties by index). The approximate graph may leave a
        slot empty (index -1, score -1) when it found fewer neighbours.

    Raises:
        ValueError: If ``exact_limit`` is negative.
    """
    if exact_limit < 0:
        raise ValueError(f"exact_limit must be >= 0, got {exact_limit}")
    if vectors.shape[0] <= exact_limit:
        return exact_neighbor_graph(vectors, k=k, progress=progress)
    log.info(
        "%d images > %d: computing an approximate neighbour graph (NN-descent)",
        vectors.shape[0],
        exact_limit,
    )
    indices, scores = approximate_neighbor_graph(vectors, k=k, seed=seed)
    # pynndescent takes no progress callback, and its verbose output comes from
    # numba-compiled code (printed by C, not through sys.stdout): the rows can
    # only be counted once the search is over.
    if progress is not None:
        progress(vectors.shape[0])
    return indices, scores


def exact_neighbor_graph(
    vectors: NDArray[np.float32],
    *,
    k: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Exact cosine k-nearest-neighbour graph, excluding each point itself.

    Computed block by block (``1024 x n`` similarities at a time), so memory stays
    linear in ``n``; no ``n x n`` matrix is ever allocated. Time grows with
    ``n**2`` (about 1 s for 10,000 images and 110 s for 100,000 on 2 cores).

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


def approximate_neighbor_graph(
    vectors: NDArray[np.float32], *, k: int, seed: int = 0
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Approximate cosine k-nearest-neighbour graph by NN-descent (pynndescent).

    Searches ``2 k`` neighbours with the settings umap-learn uses for its own
    search (random-projection trees to start, ``log2(n)`` rounds, 60
    candidates) and keeps the best ``k``: on clustered 300-d vectors that finds
    about 97% of the exact top-5 neighbours and every near-duplicate pair
    (``docs/performance.md``). The first call in a process also compiles
    pynndescent's numba code (about 40 s on 2 cores), which is why small
    collections use the exact graph.

    Args:
        vectors: ``(n, c)`` unit vectors.
        k: Neighbours per point; lowered to ``n - 1``.
        seed: Random state of the trees and the search; the same inputs and
            seed give the same graph.

    Returns:
        ``(indices, scores)`` as :func:`exact_neighbor_graph` returns them, except
        that a slot the search could not fill holds index -1 and score -1.
    """
    n = vectors.shape[0]
    kk = min(k, n - 1)
    if kk <= 0:
        return np.empty((n, 0), dtype=np.int32), np.empty((n, 0), dtype=np.float32)
    numba_cache()
    from pynndescent import NNDescent

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    width = min(2 * kk, n - 1)
    with warnings.catch_warnings():
        # Tiny inputs make it warn about rows it could not fill; they come back
        # as -1 slots, handled below and logged.
        warnings.filterwarnings("ignore", message=".*Failed to correctly find n_neighbors.*")
        search = NNDescent(
            x,
            metric="cosine",
            n_neighbors=width + 1,  # pynndescent lists each point as its own first neighbour
            n_trees=min(64, 5 + round(n**0.5 / 20.0)),
            n_iters=max(5, round(np.log2(n))),
            max_candidates=60,
            random_state=seed,
            low_memory=True,
            compressed=False,
            verbose=False,
        )
    found, dist = search.neighbor_graph
    found = np.asarray(found, dtype=np.int64)
    sims = 1.0 - np.asarray(dist, dtype=np.float32)
    # Drop each point itself wherever it is listed (an identical vector may come
    # first); a row without it loses its last, least similar neighbour instead.
    is_self = found == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    found = found[~is_self].reshape(n, width)
    sims = sims[~is_self].reshape(n, width)
    missing = found < 0
    sims[missing] = -np.inf
    order = np.lexsort((np.where(missing, n, found), -sims), axis=1)[:, :kk]
    found = np.take_along_axis(found, order, axis=1)
    sims = np.take_along_axis(sims, order, axis=1)
    scores = np.where(found < 0, -1.0, np.clip(sims, -1.0, 1.0)).astype(np.float32)
    if (found < 0).any():
        log.warning("the approximate neighbour graph left %d slots empty", int((found < 0).sum()))
    return found.astype(np.int32), scores


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


def numba_cache() -> Path | None:
    """Give numba (under umap and pynndescent) a cache folder it can write.

    numba caches compiled code next to the package or under ``~/.cache``; where
    neither is writable (a read-only install and a home folder that is not
    writable, as in some containers), importing umap fails with a traceback.
    Then ``NUMBA_CACHE_DIR`` is set to a private folder under the system's
    temporary folder. Call before importing umap or pynndescent.

    Returns:
        The folder chosen, or ``None`` when numba's own choice works (or
        ``NUMBA_CACHE_DIR`` is already set).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if _writable(Path(xdg)):
        return None
    folder = Path(tempfile.gettempdir()) / f"explorer-numba-{os.getuid()}"
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    return folder


def _writable(path: Path) -> bool:
    """Whether ``path`` exists as a writable folder, or could be created as one."""
    for folder in (path, *path.parents):
        if folder.exists():
            return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    return False
