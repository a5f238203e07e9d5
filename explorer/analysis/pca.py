"""PCA projection, fitted once per build, stored as arrays and applied by hand.

PCA is fitted with scikit-learn but kept as two arrays (``mean`` and
``components``), so an index never needs pickle. Vectors are L2-normalised
after projection, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from explorer.store.records import Projection

log = logging.getLogger(__name__)

PCA_COMPONENTS = 300
_BLOCK_ROWS = 4096  # rows projected at a time
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
    for start in range(0, n, _BLOCK_ROWS):
        block = np.asarray(features[start : start + _BLOCK_ROWS], dtype=np.float32)
        out[start : start + len(block)] = (block - projection.mean) @ projection.components.T
        if progress is not None:
            progress(len(block))
    return normalize(out)


def normalize(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Return rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: NDArray[np.float32] = (vectors / np.maximum(norms, _EPS)).astype(np.float32, copy=False)
    return out


def as_matrix(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """The vectors as a 2-D float32 array (no copy when they already are one).

    Raises:
        ValueError: If ``vectors`` is not 2-D.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (n, c) array, got shape {x.shape}")
    return x
