"""Cluster descriptions: sizes, names from ImageNet classes, representatives, cohesion.

VGG16 computes ImageNet class probabilities in the same forward pass that gives
fc2, and the index keeps each image's top-5 classes. A cluster is named after
the classes that carry the most probability over its members (for example
"tabby / tiger cat / Egyptian cat"), so no extra model is needed.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import NDArray

NAME_CLASSES = 3  # class names joined in a cluster name
_MIN_SHARE = 0.25  # a class joins the name when it carries >= this share of the top class's mass


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
    unit = centers / np.maximum(np.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
    out = []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        sims = vectors[rows] @ unit[c] if len(rows) else np.empty(0, dtype=np.float32)
        order = rows[np.lexsort((rows, -sims))] if len(rows) else rows
        out.append(
            ClusterSummary(
                cluster=c,
                name=names[c],
                size=len(rows),
                cohesion=float(sims.mean()) if len(rows) else 0.0,
                representatives=[int(i) for i in order[:per_cluster]],
                classes=[(imagenet_names()[i], share) for i, share in classes[c]],
            )
        )
    return out
