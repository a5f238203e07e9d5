"""Cosine nearest neighbours: the top-k of queries, and the k-NN graph of an index.

One exact routine, :func:`top_k`, serves both the queries of ``explorer similar``
and the exact graph; above :data:`EXACT_GRAPH_LIMIT` images the graph comes from
NN-descent (pynndescent, imported when needed). Inputs are unit vectors, so a
dot product is a cosine similarity; nothing here allocates an ``n x n`` matrix.
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

log = logging.getLogger(__name__)

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


def top_k(
    queries: NDArray[np.float32],
    vectors: NDArray[np.float32],
    *,
    k: int,
    exclude: NDArray[np.int64] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact cosine top-k of each query among ``vectors`` (both unit-normalised).

    Computed block by block (``1024 x n`` similarities at a time), so memory
    stays linear in ``n``.

    Args:
        queries: ``(q, c)`` unit query vectors.
        vectors: ``(n, c)`` unit index vectors.
        k: Number of neighbours wanted; fewer come back when the index is smaller.
        exclude: Optional ``(q,)`` row of ``vectors`` to leave out for each
            query (the query itself, when it is indexed); ``-1`` excludes nothing.
        progress: Called with the number of queries finished after each block.

    Returns:
        ``(indices, scores)``, each ``(q, min(k, n))`` sorted by decreasing score
        (ties by index); an excluded row that would have been among them comes
        last with index -1.

    Raises:
        ValueError: If ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = vectors.shape[0]
    q = queries.shape[0]
    kk = min(k, n)
    if kk <= 0 or q == 0:
        return np.empty((q, 0), dtype=np.int64), np.empty((q, 0), dtype=np.float32)
    x = np.asarray(vectors, dtype=np.float32)
    idx_out = np.empty((q, kk), dtype=np.int64)
    score_out = np.empty((q, kk), dtype=np.float32)
    for start in range(0, q, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, q)
        sims = np.asarray(queries[start:stop], dtype=np.float32) @ x.T
        if exclude is not None:
            rows = np.arange(stop - start)
            ex = exclude[start:stop]
            mask = ex >= 0
            sims[rows[mask], ex[mask]] = -np.inf
        idx, sc = _best(sims, kk)
        idx[np.isneginf(np.take_along_axis(sims, idx, axis=1))] = -1
        idx_out[start:stop] = idx
        score_out[start:stop] = sc
        if progress is not None:
            progress(stop - start)
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

    :func:`top_k` of every vector against all of them, itself left out. Time
    grows with ``n**2`` (about 1 s for 10,000 images and 110 s for 100,000 on
    2 cores).

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
    # k <= n - 1 and the excluded self scores -inf: it is never among the best k
    indices, scores = top_k(x, x, k=kk, exclude=np.arange(n, dtype=np.int64), progress=progress)
    return indices.astype(np.int32), scores


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
