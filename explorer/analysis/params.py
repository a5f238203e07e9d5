"""What a stored analysis depends on: k, the near-duplicate threshold and the seed.

The one place these parameters are checked and defaulted. :class:`AnalysisParams`
refuses a bad value with :class:`~explorer.errors.UsageError` when it is made,
so a command fails before any work; :func:`default_dup_threshold` is the one
rule for a backbone's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from explorer.errors import UsageError
from explorer.features.base import DEFAULT_DUP_THRESHOLD
from explorer.features.registry import BACKBONES

MAX_SEED = 2**32 - 1  # what numpy's and scikit-learn's random states accept

Clusters = int | Literal["auto", "stored"]
"""A requested k: a number, ``"auto"`` (by silhouette) or ``"stored"`` (what the stored
analysis was asked for)."""


def default_dup_threshold(backbone: str) -> float:
    """The near-duplicate threshold calibrated for a backbone (a generic one if it has none)."""
    spec = BACKBONES.get(backbone)
    return DEFAULT_DUP_THRESHOLD if spec is None else spec.dup_threshold


def check_dup_threshold(threshold: float, *, name: str = "the near-duplicate threshold") -> float:
    """The one check of a near-duplicate threshold: a cosine similarity in (0, 1].

    Args:
        threshold: The value.
        name: How the message names it (the option it came from).

    Returns:
        The threshold, as a float.

    Raises:
        UsageError: Outside (0, 1] (NaN included).
    """
    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"{name} must be in (0, 1], got {threshold:g}")
    return float(threshold)


def check_clusters(
    clusters: int | None, *, images: int | None = None, name: str = "clusters"
) -> None:
    """A fixed k is at least 1 (and at most ``images``, when known); ``None`` means automatic.

    Raises:
        UsageError: Out of range.
    """
    if clusters is None:
        return
    if clusters < 1:
        raise UsageError(f"{name} must be at least 1, got {clusters}")
    if images is not None and clusters > images:
        raise UsageError(
            f"{name} must be between 1 and the number of images ({images}), got {clusters}"
        )


def check_seed(seed: int, *, name: str = "seed") -> None:
    """A seed is a whole number in ``0 .. 2**32 - 1`` (numpy and scikit-learn refuse others).

    Raises:
        UsageError: Out of range.
    """
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"{name} must be between 0 and {MAX_SEED}, got {seed}")


@dataclass(frozen=True)
class AnalysisParams:
    """The parameters an analysis is computed with, checked when made.

    Attributes:
        clusters: Fixed k for k-means, or ``None`` to choose k by silhouette.
        dup_threshold: Cosine similarity in (0, 1] of the raw backbone
            features from which two images are near-duplicates.
        seed: One seed for k-means, UMAP and the approximate neighbour graph.

    Raises:
        UsageError: A value out of range.
    """

    clusters: int | None = None
    dup_threshold: float = DEFAULT_DUP_THRESHOLD
    seed: int = 0

    def __post_init__(self) -> None:
        check_clusters(self.clusters)
        check_dup_threshold(self.dup_threshold)
        check_seed(self.seed)


def check_request(
    *,
    clusters: Clusters = "stored",
    dup_threshold: float | None = None,
    seed: int | None = None,
    names: dict[str, str] | None = None,
) -> None:
    """Check what a caller asks for before any work; ``None``/``"stored"``/``"auto"`` always pass.

    Args:
        clusters: Requested k.
        dup_threshold: Requested threshold, or ``None`` for the stored/default one.
        seed: Requested seed, or ``None`` for the default.
        names: How messages name each parameter (``{"dup_threshold": "--dup-threshold"}``).

    Raises:
        UsageError: A value out of range.
    """
    said = names or {}
    if isinstance(clusters, int):
        check_clusters(clusters, name=said.get("clusters", "clusters"))
    if dup_threshold is not None:
        check_dup_threshold(dup_threshold, name=said.get("dup_threshold", "dup_threshold"))
    if seed is not None:
        check_seed(seed, name=said.get("seed", "seed"))


def resolve(
    stored: AnalysisParams,
    *,
    clusters: Clusters = "stored",
    dup_threshold: float | None = None,
    seed: int | None = None,
) -> AnalysisParams:
    """What a caller asks for, each unset value taken from ``stored``.

    Args:
        stored: The parameters of the stored analysis (or the index's defaults).
        clusters: A fixed k, ``"auto"``, or ``"stored"`` to keep ``stored.clusters``.
        dup_threshold: A threshold, or ``None`` to keep ``stored.dup_threshold``.
        seed: A seed, or ``None`` to keep ``stored.seed``.

    Raises:
        UsageError: A value out of range.
    """
    check_request(clusters=clusters, dup_threshold=dup_threshold, seed=seed)
    fixed = {"stored": stored.clusters, "auto": None}
    k = fixed[clusters] if isinstance(clusters, str) else clusters
    return AnalysisParams(
        clusters=k,
        dup_threshold=stored.dup_threshold if dup_threshold is None else dup_threshold,
        seed=stored.seed if seed is None else seed,
    )
