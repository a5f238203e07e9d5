"""What an index holds, as plain data: image rows, skipped files, the PCA, the analysis.

These are the values :mod:`explorer.store.commit` writes and
:mod:`explorer.store.index` reads back; they carry no behaviour of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.features.base import BackboneInfo


@dataclass(frozen=True)
class ImageRecord:
    """One indexed image.

    ``path`` is relative to the index root (``/``-separated) for files under it,
    absolute otherwise; non-UTF-8 bytes are kept as surrogate escapes.
    """

    path: str
    size: int
    mtime_ns: int
    sha256: str
    width: int
    height: int
    # Capture facts (explorer.inputs.capture); optional so that older indexes load.
    # ``taken_source`` None: not read yet (the next build reads the header).
    taken: str | None = None
    taken_source: str | None = None
    camera: str | None = None
    has_gps: bool = False
    sharpness: float | None = None  # variance of the Laplacian of the thumbnail; None: older index


@dataclass(frozen=True)
class SkipRecord:
    """A file that could not be indexed, and why."""

    path: str
    reason: str
    detail: str = ""


@dataclass
class Analysis:
    """Clusters, map and neighbour graph computed over the index vectors."""

    labels: NDArray[np.int32]
    centers: NDArray[np.float32]
    coords: NDArray[np.float32]
    neighbors: NDArray[np.int32]
    scores: NDArray[np.float32]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Projection:
    """A fitted PCA, stored as arrays (fitted and applied by :mod:`explorer.analysis.pca`).

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


@dataclass
class IndexData:
    """Everything one generation of an index holds, in memory."""

    root: str
    backbone: BackboneInfo
    records: list[ImageRecord]
    skipped: list[SkipRecord]
    features: NDArray[np.float16]
    vectors: NDArray[np.float32]
    projection: Projection
    thumbnails: list[bytes]
    class_ids: NDArray[np.int16] | None = None
    class_probs: NDArray[np.float16] | None = None
    analysis: Analysis | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)
