"""The 2-D map: UMAP (cosine) fed the precomputed neighbour graph.

umap is imported inside :func:`embed_2d` (without the TensorFlow import its
package attempts), so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.analysis.pca import as_matrix
from explorer.progress import Progress, no_progress

log = logging.getLogger(__name__)

MIN_UMAP_POINTS = 5
"""Below this many images :func:`embed_2d` uses a fixed circle instead of UMAP."""


_DISTANCE_FLOOR = 0.0


def embed_2d(
    vectors: NDArray[np.float32],
    *,
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    n_neighbors: int = 15,
    seed: int = 0,
    progress: Progress | None = None,
) -> NDArray[np.float32]:
    """Lay the images out in 2-D with UMAP (cosine), reusing the neighbour graph.

    The graph (which excludes each point itself) is turned into what umap's
    ``precomputed_knn`` expects: each row starts with the point itself at
    distance 0, followed by its neighbours at distance ``1 - cosine``. UMAP then
    never searches neighbours itself, and never builds an ``n x n`` matrix (umap
    computes all pairwise distances for ``n < 4096`` unless it is given a graph).
    Below :data:`MIN_UMAP_POINTS` images the layout is a fixed circle ordered by
    the first PCA coordinate.

    Args:
        vectors: ``(n, c)`` unit vectors.
        neighbors: ``(n, k)`` neighbour indices, self excluded, best first.
        scores: ``(n, k)`` cosine similarities matching ``neighbors``.
        n_neighbors: UMAP neighbourhood size including the point itself (>= 2);
            lowered with a log warning to what the graph holds (``k + 1``) and to
            ``n - 1``.
        seed: UMAP random state; the same inputs and seed give the same map.
        progress: Progress hook; one bar, ``map (UMAP)``, counting UMAP's
            optimisation epochs (one step for the circle). Importing umap,
            compiling its numba code and the spectral start come before the
            first epoch.

    Returns:
        ``(n, 2)`` float32 coordinates.

    Raises:
        ValueError: If ``n_neighbors < 2`` or the graph does not match the vectors.
    """
    x = as_matrix(vectors)
    n = x.shape[0]
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be >= 2, got {n_neighbors}")
    nbrs = np.asarray(neighbors)
    sc = np.asarray(scores)
    if nbrs.ndim != 2 or nbrs.shape[0] != n or sc.shape != nbrs.shape:
        raise ValueError(
            f"neighbors and scores must both have shape ({n}, k), got {nbrs.shape} and {sc.shape}"
        )
    bar = progress or no_progress
    if n < MIN_UMAP_POINTS or nbrs.shape[1] == 0:
        step = bar("map (UMAP)", 1)
        circle = _circle(x)
        step(1)
        return circle

    allowed = min(nbrs.shape[1] + 1, n - 1)
    if n_neighbors > allowed:
        log.warning(
            "neighbour graph has %d columns for %d images: using n_neighbors=%d instead of %d",
            nbrs.shape[1],
            n,
            allowed,
            n_neighbors,
        )
        n_neighbors = allowed
    cols = n_neighbors - 1
    knn_indices = np.empty((n, n_neighbors), dtype=np.int64)
    knn_indices[:, 0] = np.arange(n)
    knn_indices[:, 1:] = nbrs[:, :cols]
    knn_dists = np.empty((n, n_neighbors), dtype=np.float32)
    knn_dists[:, 0] = 0.0
    knn_dists[:, 1:] = np.maximum(1.0 - sc[:, :cols].astype(np.float32), _DISTANCE_FLOOR)

    epochs = _EpochCounter(bar("map (UMAP)", _umap_epochs(n)), _umap_epochs(n))
    UMAP = _import_umap()

    reducer = UMAP(
        n_neighbors=n_neighbors,
        n_components=2,
        metric="cosine",
        random_state=seed,
        n_jobs=1,
        precomputed_knn=(knn_indices, knn_dists),
        verbose=False,
        tqdm_kwds=epochs.tqdm_kwds() if progress is not None else None,
    )
    with warnings.catch_warnings():
        # We never call transform(), so a missing search index is fine, and a
        # seeded UMAP is single-threaded by design.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*n_jobs.*overridden.*")
        warnings.filterwarnings("ignore", message=".*gradient function is not yet implemented.*")
        coords = reducer.fit_transform(x)
    epochs.finish()
    out = np.asarray(coords, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        log.warning("UMAP returned non-finite coordinates: falling back to a circle")
        return _circle(x)
    return out


def _umap_epochs(n: int) -> int:
    """The number of epochs umap-learn runs by default (``simplicial_set_embedding``)."""
    return 500 if n <= 10_000 else 200


class _EpochCounter:
    """A text file for umap's tqdm epoch bar that forwards the epochs to a progress hook.

    umap-learn reports its optimisation epochs only through tqdm (its
    ``tqdm_kwds`` parameter). Given :meth:`tqdm_kwds`, tqdm writes ``"done/total"``
    here after every epoch, and each write advances the hook by the epochs
    finished since the last one. :meth:`finish` tops the bar up to its total, so
    the advances add up even if umap runs another number of epochs or does
    not draw its bar (in a notebook, ``tqdm.auto`` draws a widget instead).
    """

    _DONE = re.compile(r"(\d+)/\d+")

    def __init__(self, advance: Callable[[int], None], total: int) -> None:
        self._advance = advance
        self._total = total
        self._done = 0

    def tqdm_kwds(self) -> dict[str, Any]:
        """tqdm keyword arguments that make it write every epoch here, and only here."""
        return {
            "disable": False,
            "file": self,
            "bar_format": "{n}/{total}",
            "mininterval": 0,
            "miniters": 1,
            "leave": False,
        }

    def write(self, text: str) -> int:
        """Take what tqdm draws; advance to the last epoch count in it."""
        found = self._DONE.findall(text)
        if found:
            self._to(int(found[-1]))
        return len(text)

    def flush(self) -> None:
        """Nothing to flush (tqdm calls it after each write)."""

    def finish(self) -> None:
        """Advance to the total."""
        self._to(self._total)

    def _to(self, done: int) -> None:
        done = min(done, self._total)
        if done > self._done:
            self._advance(done - self._done)
            self._done = done


def _import_umap() -> Any:
    """umap's UMAP class, without the TensorFlow import its package __init__ attempts.

    umap-learn's ``__init__`` imports ``ParametricUMAP``, which pulls in TensorFlow
    (about 3 s, and its start-up chatter on stderr). Marking that submodule
    missing makes umap fall back to its stub; ``UMAP`` itself is unchanged.
    """
    import sys

    blocked = "tensorflow" not in sys.modules and "umap" not in sys.modules
    if blocked:
        sys.modules.setdefault("umap.parametric_umap", None)  # type: ignore[arg-type]
    try:
        from explorer.analysis.knn import numba_cache

        numba_cache()
        from umap import UMAP
    finally:
        if blocked and sys.modules.get("umap.parametric_umap", 0) is None:
            del sys.modules["umap.parametric_umap"]
    return UMAP


def _circle(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Points on a unit circle, in order of their first coordinate (ties by index)."""
    n = x.shape[0]
    if n == 0:
        return np.empty((0, 2), dtype=np.float32)
    if n == 1:
        return np.zeros((1, 2), dtype=np.float32)
    first = x[:, 0] if x.shape[1] else np.zeros(n, dtype=np.float32)
    order = np.lexsort((np.arange(n), first))
    angle = np.empty(n, dtype=np.float64)
    angle[order] = 2.0 * np.pi * np.arange(n) / n
    return np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
