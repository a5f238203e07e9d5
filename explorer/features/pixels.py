"""The model-free baseline backbone: each image shrunk to 16x16 RGB."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from explorer.features.base import BackboneInfo, Embedding, WeightsRef


class PixelsBackbone:
    """A model-free baseline: the image shrunk to 16x16 RGB (768-d).

    Fast and deterministic, it finds colour-and-layout matches only. It exists
    for smoke tests and for trying the tool without any network weights.
    """

    batch_size = 64

    def __init__(self) -> None:
        self.info = BackboneInfo("pixels", "16x16", 768, "none", "pixels-v1")

    def embed(self, pixels: NDArray[np.uint8]) -> Embedding:
        """Average-pool each image to 16x16 and flatten it."""
        n = pixels.shape[0]
        x = pixels.astype(np.float32).reshape(n, 16, 14, 16, 14, 3).mean(axis=(2, 4)) / 255.0
        return Embedding(x.reshape(n, -1).astype(np.float32), None)


def build_pixels(ref: WeightsRef, seed: int) -> PixelsBackbone:
    """The registry's builder (the backbone takes no weights and no seed)."""
    return PixelsBackbone()
