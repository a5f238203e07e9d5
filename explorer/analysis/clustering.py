"""Clusters: k-means with k chosen by silhouette, the images nearest each centre, names.

k-means runs on the L2-normalised PCA vectors (:mod:`explorer.analysis.pca`);
the silhouette that picks k is computed on a bounded sample, so the cost stays
linear in ``n``. A cluster is named after the ImageNet classes that carry the
most probability over its members (for example "tabby / tiger cat / Egyptian
cat"): VGG16 computes them in the same forward pass as fc2, and the index keeps
each image's top-5. scikit-learn is imported inside the functions that need it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import warnings
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from explorer.analysis.pca import as_matrix
from explorer.progress import Progress, no_progress

log = logging.getLogger(__name__)

_N_INIT = 4
NAME_CLASSES = 3  # class names joined in a cluster name


_MIN_SHARE = 0.25  # a class joins the name when it carries >= this share of the top class's mass


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
    x = as_matrix(vectors)
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
    x = as_matrix(vectors)
    labels = np.asarray(clustering.labels)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"clustering has {labels.shape[0]} labels for {x.shape[0]} vectors")
    ranked = nearest_centre(x, labels, clustering.centers[: clustering.k])
    return [[int(m) for m in rows[:per_cluster]] for rows, _ in ranked]


def nearest_centre(
    vectors: NDArray[np.float32], labels: NDArray[np.integer], centers: NDArray[np.float32]
) -> list[tuple[NDArray[np.int64], NDArray[np.float32]]]:
    """Per cluster ``0 .. k-1``, its members by cosine to its centre, best first (ties by row).

    Args:
        vectors: ``(n, c)`` unit vectors the clustering was computed on.
        labels: ``(n,)`` cluster of each vector.
        centers: ``(k, c)`` cluster centres (any length).

    Returns:
        ``(rows, cosines)`` per cluster, both in that order (empty for an empty cluster).
    """
    x = as_matrix(vectors)
    unit = np.asarray(centers, dtype=np.float32)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    out = []
    for c in range(unit.shape[0]):
        rows = np.flatnonzero(labels == c).astype(np.int64)
        sims = (x[rows] @ unit[c]).astype(np.float32)
        order = np.lexsort((rows, -sims))
        out.append((rows[order], sims[order]))
    return out


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


@functools.cache
def imagenet_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names (first synonym), in the networks' output order."""
    text = resources.files("explorer").joinpath("imagenet_classes.json").read_text()
    names = tuple(json.loads(text)["names"])
    if len(names) != 1000:
        raise RuntimeError("explorer/imagenet_classes.json must hold 1000 names")
    return names


@dataclass(frozen=True)
class ClusterSummary:
    """One cluster as shown to people.

    Attributes:
        cluster: Its number.
        name: Name from its dominant ImageNet classes, or ``"cluster N"``.
        size: Number of images.
        cohesion: Mean cosine similarity of its images to its centre (1 = identical).
        representatives: Row numbers of the images nearest its centre, best first.
        classes: ``(class name, share of the cluster's class mass)`` for the top classes.
    """

    cluster: int
    name: str
    size: int
    cohesion: float
    representatives: list[int]
    classes: list[tuple[str, float]]


def cluster_classes(
    labels: NDArray[np.integer],
    class_ids: NDArray[np.integer],
    class_probs: NDArray[np.floating],
    *,
    k: int,
    top: int = NAME_CLASSES,
) -> list[list[tuple[int, float]]]:
    """The classes that dominate each cluster.

    Args:
        labels: ``(n,)`` cluster of each image.
        class_ids: ``(n, t)`` top class ids per image.
        class_probs: ``(n, t)`` their probabilities.
        k: Number of clusters.
        top: Classes kept per cluster.

    Returns:
        Per cluster, up to ``top`` ``(class id, share)`` pairs, best first; the
        share is the class's summed probability over the cluster's images divided
        by the total class mass of the cluster.
    """
    out: list[list[tuple[int, float]]] = []
    for c in range(k):
        members = labels == c
        ids = class_ids[members].ravel().astype(np.int64)
        probs = class_probs[members].ravel().astype(np.float64)
        mass = np.bincount(ids, weights=probs, minlength=1000)
        total = float(mass.sum())
        if total <= 0:
            out.append([])
            continue
        order = np.argsort(-mass, kind="stable")[:top]
        best = float(mass[order[0]])
        out.append(
            [(int(i), float(mass[i]) / total) for i in order if mass[i] >= _MIN_SHARE * best]
        )
    return out


def cluster_names(
    labels: NDArray[np.integer],
    class_ids: NDArray[np.integer] | None,
    class_probs: NDArray[np.floating] | None,
    *,
    k: int,
) -> list[str]:
    """A name per cluster from its dominant classes ("tabby / tiger cat / Egyptian cat").

    Falls back to ``"cluster N"`` when the backbone gives no class probabilities.
    """
    if class_ids is None or class_probs is None:
        return [f"cluster {c}" for c in range(k)]
    names = imagenet_names()
    return [
        " / ".join(names[i] for i, _ in classes) if classes else f"cluster {c}"
        for c, classes in enumerate(cluster_classes(labels, class_ids, class_probs, k=k))
    ]


def cluster_guesses(
    labels: NDArray[np.integer],
    class_ids: NDArray[np.integer] | None,
    class_probs: NDArray[np.floating] | None,
    *,
    k: int,
) -> list[list[tuple[str, float]]] | None:
    """Per cluster, its dominant ImageNet classes by name with their share.

    ``None`` when the backbone gives no class probabilities.
    """
    if class_ids is None or class_probs is None:
        return None
    names = imagenet_names()
    return [
        [(names[i], share) for i, share in classes]
        for classes in cluster_classes(labels, class_ids, class_probs, k=k)
    ]


def describe_clusters(
    vectors: NDArray[np.float32],
    labels: NDArray[np.integer],
    centers: NDArray[np.float32],
    *,
    class_ids: NDArray[np.integer] | None = None,
    class_probs: NDArray[np.floating] | None = None,
    per_cluster: int = 8,
) -> list[ClusterSummary]:
    """Size, name, cohesion and nearest-centre images of every cluster."""
    k = int(centers.shape[0])
    names = cluster_names(labels, class_ids, class_probs, k=k)
    classes = (
        cluster_classes(labels, class_ids, class_probs, k=k)
        if class_ids is not None and class_probs is not None
        else [[] for _ in range(k)]
    )
    return [
        ClusterSummary(
            cluster=c,
            name=names[c],
            size=len(rows),
            cohesion=float(sims.mean()) if len(rows) else 0.0,
            representatives=[int(i) for i in rows[:per_cluster]],
            classes=[(imagenet_names()[i], share) for i, share in classes[c]],
        )
        for c, (rows, sims) in enumerate(nearest_centre(vectors, labels, centers))
    ]
