"""Clustering, the 2-D map, near-duplicate groups and cluster representatives.

Everything here works on the L2-normalised PCA vectors of :mod:`explorer.analysis.search`
(so a dot product is a cosine similarity) and on the neighbour graph that
:func:`explorer.analysis.search.neighbor_graph` returns. Nothing here builds an ``n x n``
matrix: k-means, UMAP (fed the precomputed graph) and the duplicate search are
linear in ``n`` (times ``k``), and the silhouette used to pick k is computed on a
bounded sample. scikit-learn and umap are imported inside the functions that need
them, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.progress import Progress, no_progress

log = logging.getLogger(__name__)

DEFAULT_DUP_THRESHOLD = 0.85
"""Cosine similarity of the raw backbone features from which two images may be near-duplicates.

The fallback for a backbone that has no calibrated value of its own
(:func:`explorer.features.backbones.default_dup_threshold`; figures in docs/duplicates.md).
``explorer duplicates --histogram`` shows the evidence for any collection.
"""


def check_dup_threshold(threshold: float, *, name: str = "the near-duplicate threshold") -> float:
    """The one check of a near-duplicate threshold: a cosine similarity in (0, 1].

    Args:
        threshold: The value.
        name: How the message names it (the option it came from).

    Raises:
        UsageError: Outside (0, 1].
    """
    from explorer.errors import UsageError

    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"{name} must be in (0, 1], got {threshold:g}")
    return threshold


MIN_UMAP_POINTS = 5
"""Below this many images :func:`embed_2d` uses a fixed circle instead of UMAP."""

_N_INIT = 4
_DISTANCE_FLOOR = 0.0


@dataclass(frozen=True)
class Clustering:
    """The result of :func:`cluster`.

    Attributes:
        labels: ``(n,)`` cluster of each image, ``0 .. k-1``.
        centers: ``(k, c)`` k-means centres in PCA space (not normalised).
        k: Number of clusters.
        method: ``"fixed"`` when the caller gave k, ``"silhouette"`` when k was
            chosen by the best silhouette, ``"single"`` when there were too few
            images (< 3) to choose and everything is one cluster.
        silhouette: Mean cosine silhouette of the chosen clustering (on the same
            sample the search used), ``None`` when it is not defined (k < 2 or
            k >= n).
        candidates: ``k -> silhouette`` for every k tried in auto mode (empty
            otherwise).
    """

    labels: NDArray[np.int32]
    centers: NDArray[np.float32]
    k: int
    method: str
    silhouette: float | None
    candidates: dict[int, float]

    def sizes(self) -> list[int]:
        """Number of images in each cluster, ``0 .. k-1``."""
        return [int(v) for v in np.bincount(self.labels, minlength=self.k)]


@dataclass(frozen=True)
class DuplicateGroup:
    """A group of near-duplicate images, or of byte-identical copies.

    Attributes:
        members: Sorted image indices.
        pairs: ``(i, j, cosine)`` with ``i < j``, sorted: for a near-duplicate
            group every pair of members (each at or above the threshold); for
            an exact group the first member with each other one, at 1.0.
        exact: Whether the members are byte-identical copies.
    """

    members: list[int]
    pairs: list[tuple[int, int, float]]
    exact: bool = False


def cluster(
    vectors: NDArray[np.float32],
    *,
    n_clusters: int | None = None,
    k_min: int = 2,
    k_max: int = 20,
    sample_size: int = 5000,
    seed: int = 0,
    progress: Progress | None = None,
) -> Clustering:
    """Cluster the vectors with k-means, choosing k by silhouette unless given.

    Auto mode (``n_clusters=None``) draws one seeded sample of at most
    ``sample_size`` vectors, fits k-means on it for every k in
    ``[k_min, min(k_max, m - 1, sqrt(n))]`` (``m`` the sample size) and keeps the k with
    the best mean cosine silhouette (ties go to the smaller k). The chosen k is
    then fitted on all vectors. When ``n <= sample_size`` the sample is the whole
    collection, so the search is exact; above it the cost stays bounded (k-means
    on 50,000 x 300 for 19 values of k would take minutes).

    Args:
        vectors: ``(n, c)`` unit vectors.
        n_clusters: Fixed number of clusters (``1 .. n``), or ``None`` for auto.
        k_min: Smallest k tried in auto mode (>= 2).
        k_max: Largest k tried in auto mode (>= k_min); lowered to ``n - 1``.
        sample_size: Most vectors used for the k search and the silhouette (>= 10).
        seed: Seed for the sample and for k-means.
        progress: Progress hook; one bar, ``clusters``, counting k-means fits
            (every candidate k on the sample, then the final fit on all vectors).

    Returns:
        The clustering; deterministic for a given seed.

    Raises:
        ValueError: On an empty input or a parameter out of range.
    """
    x = _as_matrix(vectors)
    n = x.shape[0]
    if n == 0:
        raise ValueError("vectors must hold at least one row")
    if k_min < 2:
        raise ValueError(f"k_min must be >= 2, got {k_min}")
    if k_max < k_min:
        raise ValueError(f"k_max must be >= k_min ({k_min}), got {k_max}")
    if sample_size < 10:
        raise ValueError(f"sample_size must be >= 10, got {sample_size}")
    if n_clusters is not None and not 1 <= n_clusters <= n:
        raise ValueError(
            f"n_clusters must be between 1 and the number of images ({n}), got {n_clusters}"
        )

    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=sample_size, replace=False)) if n > sample_size else None
    xs = x if sample is None else x[sample]
    bar = progress or no_progress

    if n_clusters is not None:
        step = bar("clusters", 1)
        labels, centers = _kmeans(x, n_clusters, seed=seed)
        sil = _silhouette(xs, labels if sample is None else labels[sample], seed=seed)
        step(1)
        return Clustering(labels, centers, n_clusters, "fixed", sil, {})

    if n < 3:
        log.info("only %d images: putting them in one cluster", n)
        step = bar("clusters", 1)
        labels, centers = _kmeans(x, 1, seed=seed)
        step(1)
        return Clustering(labels, centers, 1, "single", None, {})

    m = xs.shape[0]
    # more clusters than about sqrt(n) are rarely useful for browsing, and small
    # collections otherwise drift to many clusters of two or three images
    hi = min(k_max, m - 1, max(k_min, math.isqrt(n)))
    lo = min(k_min, hi)
    step = bar("clusters", hi - lo + 2)  # every candidate, then the final fit
    candidates: dict[int, float] = {}
    for k in range(lo, hi + 1):
        sample_labels, _ = _kmeans(xs, k, seed=seed)
        score = _silhouette(xs, sample_labels, seed=seed)
        if score is not None:
            candidates[k] = score
        step(1)
    if not candidates:
        # Every candidate collapsed (for example all vectors identical).
        log.info("no k in [%d, %d] gives a defined silhouette: using one cluster", lo, hi)
        labels, centers = _kmeans(x, 1, seed=seed)
        step(1)
        return Clustering(labels, centers, 1, "silhouette", None, candidates)
    best = max(candidates, key=lambda k: (candidates[k], -k))
    log.info("chose k=%d by silhouette (%.3f)", best, candidates[best])
    labels, centers = _kmeans(x, best, seed=seed)
    sil = _silhouette(xs, labels if sample is None else labels[sample], seed=seed)
    step(1)
    return Clustering(labels, centers, best, "silhouette", sil, candidates)


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
    x = _as_matrix(vectors)
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


def find_duplicates(
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    threshold: float = DEFAULT_DUP_THRESHOLD,
    hashes: Sequence[str] | None = None,
    features: NDArray[np.floating[Any]] | None = None,
    verify: Callable[[int, int], bool] | None = None,
) -> list[DuplicateGroup]:
    """Near-duplicate groups in which every two members are near-duplicates, plus exact copies.

    Byte-identical images (same ``hashes`` entry) form their own groups, marked
    ``exact``; they take no part in the near-duplicate step, so a copy never
    joins two other images. The near-duplicate step is complete linkage, grown
    greedily: the image with the most candidate partners at or above the
    threshold seeds a group; its partners join, best score first, only when
    they score at or above the threshold with *every* member already in. An
    image belongs to at most one group, so ``A ~ B ~ C`` with ``A`` and ``C``
    below the threshold never becomes one group.

    Candidates are the edges of the given graph, so the cost is linear in
    ``n * k`` (plus the pairs inside the groups found).

    Args:
        neighbors: ``(n, k)`` neighbour indices (self excluded; negative = none).
        scores: ``(n, k)`` similarities matching ``neighbors``; ignored when
            ``features`` is given.
        threshold: Cosine similarity in ``[-1, 1]``; a pair counts when its
            score is ``>= threshold``.
        hashes: Optional content hash per image, for the exact groups.
        features: Optional ``(n, d)`` vectors whose cosine scores every pair
            (candidate edges and the pairs inside a group). Without them only
            graph edges are known, and a pair missing from the graph counts as
            below the threshold.
        verify: Optional second test of a pair at or above the threshold
            (``verify(i, j) -> bool``), e.g. a pixel check; a pair it rejects
            does not count.

    Returns:
        Groups of two or more images, largest first, then by first member.

    Raises:
        ValueError: If ``threshold`` is outside ``[-1, 1]`` or the shapes differ.
    """
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}")
    nbrs = np.asarray(neighbors)
    sc = np.asarray(scores)
    if nbrs.ndim != 2 or sc.shape != nbrs.shape:
        raise ValueError(
            f"neighbors and scores must have the same (n, k) shape, got {nbrs.shape} and {sc.shape}"
        )
    n = nbrs.shape[0]
    if features is not None and len(features) != n:
        raise ValueError(f"features must hold one row per image ({n}), got {len(features)}")
    if hashes is not None and len(hashes) != n:
        raise ValueError(f"hashes must hold one entry per image ({n}), got {len(hashes)}")
    if features is not None:
        sc = edge_scores(features, nbrs)
        norms = row_norms(features)
    groups = _exact_groups(hashes) if hashes is not None else []
    taken = np.zeros(n, dtype=bool)
    for g in groups:
        taken[g.members] = True

    rows = np.repeat(np.arange(n, dtype=np.int64), nbrs.shape[1])
    cols = nbrs.reshape(-1).astype(np.int64)
    vals = sc.reshape(-1).astype(np.float64)
    ok = (cols >= 0) & (cols < n) & (cols != rows)
    ok[ok] &= (vals[ok] >= threshold) & ~taken[rows[ok]] & ~taken[cols[ok]]
    partners: dict[int, dict[int, float]] = {}
    for a, b, v in zip(rows[ok].tolist(), cols[ok].tolist(), vals[ok].tolist(), strict=True):
        if b in partners.get(a, {}) or (verify is not None and not verify(a, b)):
            continue
        partners.setdefault(a, {})[b] = v
        partners.setdefault(b, {})[a] = v

    def pair(a: int, b: int) -> float | None:
        if features is None or b in partners.get(a, {}):
            return partners.get(a, {}).get(b)
        fa = np.asarray(features[a], dtype=np.float32)
        fb = np.asarray(features[b], dtype=np.float32)
        den = float(norms[a] * norms[b])
        score = float(fa @ fb) / den if den > 0 else 0.0
        if score < threshold or (verify is not None and not verify(a, b)):
            return None
        return score

    # densest seeds first: the image with most partners, then the best total score
    seeds = sorted(partners, key=lambda a: (-len(partners[a]), -sum(partners[a].values()), a))
    for seed in seeds:
        if taken[seed]:
            continue
        members = [seed]
        edges: list[tuple[int, int, float]] = []
        free = [(v, b) for b, v in partners[seed].items() if not taken[b]]
        for _, cand in sorted(free, key=lambda t: (-t[0], t[1])):
            with_all = [(m, pair(cand, m)) for m in members]
            if all(s is not None and s >= threshold for _, s in with_all):
                members.append(cand)
                edges += [
                    (min(m, cand), max(m, cand), float(s)) for m, s in with_all if s is not None
                ]
        if len(members) < 2:
            continue
        taken[members] = True
        groups.append(DuplicateGroup(members=sorted(members), pairs=sorted(edges), exact=False))
    return sorted(groups, key=lambda g: (-len(g.members), g.members[0]))


def edge_scores(
    features: NDArray[np.floating[Any]], neighbors: NDArray[np.int32]
) -> NDArray[np.float32]:
    """Cosine of every graph edge ``(i, neighbors[i, c])`` between rows of ``features``.

    Computed block by block (at most about 16 M gathered values at a time), so
    memory stays linear in ``n`` even for a memory-mapped ``(n, 4096)`` matrix;
    a missing neighbour (negative index) scores ``-1``.
    """
    nbrs = np.asarray(neighbors)
    n, k = nbrs.shape
    d = int(features.shape[1]) if features.ndim == 2 else 1
    norms = row_norms(features)
    out = np.full(nbrs.shape, -1.0, dtype=np.float32)
    block = max(1, (1 << 24) // max(1, k * d))
    for start in range(0, n, block):
        idx = nbrs[start : start + block]
        safe = np.where(idx >= 0, idx, 0)
        a = np.asarray(features[start : start + block], dtype=np.float32)
        b = np.asarray(features[safe.reshape(-1)], dtype=np.float32).reshape(*safe.shape, d)
        dots = np.einsum("nd,nkd->nk", a, b)
        den = norms[start : start + block, None] * norms[safe]
        sims = np.clip(dots / np.where(den > 0, den, 1.0), -1.0, 1.0)
        out[start : start + block] = np.where(idx >= 0, sims, -1.0)
    return out


def row_norms(features: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """The L2 norm of every row, read block by block (float32)."""
    n = len(features)
    out = np.empty(n, dtype=np.float32)
    block = 8192
    for start in range(0, n, block):
        out[start : start + block] = np.linalg.norm(
            np.asarray(features[start : start + block], dtype=np.float32), axis=1
        )
    return out


def _exact_groups(hashes: Sequence[str]) -> list[DuplicateGroup]:
    """One exact group per content hash held by two or more images."""
    by_hash: dict[str, list[int]] = {}
    for idx, h in enumerate(hashes):
        by_hash.setdefault(h, []).append(idx)
    return [
        DuplicateGroup(
            members=m,
            pairs=[(m[0], other, 1.0) for other in m[1:]],
            exact=True,
        )
        for m in by_hash.values()
        if len(m) >= 2
    ]


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
        from explorer.analysis.search import numba_cache

        numba_cache()
        from umap import UMAP
    finally:
        if blocked and sys.modules.get("umap.parametric_umap", 0) is None:
            del sys.modules["umap.parametric_umap"]
    return UMAP


def representatives(
    vectors: NDArray[np.float32], clustering: Clustering, *, per_cluster: int = 8
) -> list[list[int]]:
    """Members of each cluster nearest its centre (cosine), best first.

    Args:
        vectors: ``(n, c)`` unit vectors the clustering was computed on.
        clustering: The clustering.
        per_cluster: How many images to return per cluster (>= 1); a smaller
            cluster returns all its members.

    Returns:
        One list per cluster ``0 .. k-1`` (empty for an empty cluster).

    Raises:
        ValueError: If ``per_cluster < 1`` or the shapes do not match.
    """
    if per_cluster < 1:
        raise ValueError(f"per_cluster must be >= 1, got {per_cluster}")
    x = _as_matrix(vectors)
    labels = np.asarray(clustering.labels)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"clustering has {labels.shape[0]} labels for {x.shape[0]} vectors")
    centers = np.asarray(clustering.centers, dtype=np.float32)
    norms = np.linalg.norm(centers, axis=1, keepdims=True)
    unit = centers / np.maximum(norms, 1e-12)
    out: list[list[int]] = []
    for c in range(clustering.k):
        members = np.flatnonzero(labels == c)
        if members.size == 0:
            out.append([])
            continue
        sims = x[members] @ unit[c]
        order = np.lexsort((members, -sims))[:per_cluster]
        out.append([int(m) for m in members[order]])
    return out


def _as_matrix(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (n, c) array, got shape {x.shape}")
    return x


def _kmeans(
    x: NDArray[np.float32], k: int, *, seed: int
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    if k == 1:
        return np.zeros(x.shape[0], dtype=np.int32), x.mean(axis=0, keepdims=True).astype(
            np.float32
        )
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # Fewer distinct points than k: sklearn warns and leaves clusters empty;
        # the silhouette then decides, and the labels stay valid.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        km = KMeans(n_clusters=k, n_init=_N_INIT, random_state=seed).fit(x)
    return km.labels_.astype(np.int32), km.cluster_centers_.astype(np.float32)


def _silhouette(x: NDArray[np.float32], labels: NDArray[np.int32], *, seed: int) -> float | None:
    n_labels = np.unique(labels).size
    if not 2 <= n_labels <= x.shape[0] - 1:
        return None
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(x, labels, metric="cosine", random_state=seed))


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
