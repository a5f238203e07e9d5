"""What a feature extractor ("backbone") is: its protocol, its record, its registry entry.

A backbone maps a batch of ``(n, 224, 224, 3)`` uint8 RGB images to ``(n, d)``
float32 features, plus ImageNet class probabilities when the network has a
classifier head. The networks live in :mod:`explorer.features.vgg16`,
:mod:`explorer.features.lite0` and :mod:`explorer.features.pixels`; the
registry that names them is :mod:`explorer.features.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

RANDOM_WEIGHTS = "random"
IMAGENET_WEIGHTS = "imagenet"
TOP_CLASSES = 5
DEFAULT_DUP_THRESHOLD = 0.85
"""Near-duplicate threshold (cosine of the raw features) of a backbone that has no
calibrated one of its own (docs/duplicates.md)."""


@dataclass(frozen=True)
class WeightsRef:
    """Where a backbone's weights come from.

    Attributes:
        source: ``"imagenet"``, ``"random"`` or an absolute file path, as the user gave it.
        sha256: Digest of the weights file; ``"random-seed-<n>"`` for seeded random
            weights, ``None`` while an ImageNet download is still to happen.
    """

    source: str
    sha256: str | None


@dataclass(frozen=True)
class BackboneInfo:
    """What an index records about the network that made its features."""

    name: str
    layer: str
    dim: int
    weights: str
    weights_sha256: str

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackboneInfo:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=str(data["name"]),
            layer=str(data["layer"]),
            dim=int(data["dim"]),
            weights=str(data["weights"]),
            weights_sha256=str(data["weights_sha256"]),
        )

    def describe(self) -> str:
        """Short human description, e.g. ``vgg16 fc2 (4096-d), weights imagenet``."""
        return f"{self.name} {self.layer} ({self.dim}-d), weights {self.weights}"


@dataclass(frozen=True)
class Embedding:
    """Output of a backbone for one batch."""

    features: NDArray[np.float32]
    probabilities: NDArray[np.float32] | None


class Backbone(Protocol):
    """Anything that turns a batch of 224x224 RGB images into features."""

    info: BackboneInfo
    batch_size: int

    def embed(self, pixels: NDArray[np.uint8]) -> Embedding:
        """Embed ``(n, 224, 224, 3)`` uint8 RGB images."""
        ...


@dataclass(frozen=True)
class BackboneSpec:
    """A registry entry: how to resolve weights and build one backbone."""

    name: str
    layer: str
    dim: int
    description: str
    needs_weights: bool
    build: Callable[[WeightsRef, int], Backbone]
    dup_threshold: float = DEFAULT_DUP_THRESHOLD
    """Default near-duplicate threshold: cosine of the raw features (docs/duplicates.md)."""


def top_classes(
    probabilities: NDArray[np.float32], *, k: int = TOP_CLASSES
) -> tuple[NDArray[np.int16], NDArray[np.float16]]:
    """The ``k`` most probable ImageNet classes of each row, best first."""
    idx = np.argsort(-probabilities, axis=1)[:, :k]
    return idx.astype(np.int16), np.take_along_axis(probabilities, idx, axis=1).astype(np.float16)
