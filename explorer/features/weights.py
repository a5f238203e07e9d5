"""Which weights a backbone uses, and whether they are the ones an index was built with.

Resolving ``--weights`` never imports TensorFlow: ``imagenet`` is looked up in
Keras' cache by file name, a path is hashed, ``random`` is named by its seed.
"""

from __future__ import annotations

import os
from pathlib import Path

from explorer.errors import IncompatibleIndexError, WeightsUnavailableError
from explorer.features.base import IMAGENET_WEIGHTS, RANDOM_WEIGHTS, BackboneInfo, WeightsRef
from explorer.fs import file_sha256

VGG16_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
VGG16_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_WEIGHTS_FILE
)
VGG16_WEIGHTS_MD5 = "64373286793e3c8b2b4e3219cbf3544b"  # Keras' own check of the download


def keras_cache_path(filename: str) -> Path:
    """Where Keras keeps a downloaded model file (honours ``KERAS_HOME``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models" / filename


def resolve_weights(spec: str, *, seed: int = 0) -> WeightsRef:
    """Resolve a ``--weights`` value without importing TensorFlow.

    Args:
        spec: ``"imagenet"``, ``"random"`` or a path to a weights file.
        seed: Seed recorded for random weights.

    Returns:
        The reference; for ``imagenet`` the digest is known only once the
        file is in Keras' cache.

    Raises:
        WeightsUnavailableError: If a path was given that is not a readable file.
    """
    if spec == IMAGENET_WEIGHTS:
        cached = keras_cache_path(VGG16_WEIGHTS_FILE)
        return WeightsRef(IMAGENET_WEIGHTS, file_sha256(cached) if cached.is_file() else None)
    if spec == RANDOM_WEIGHTS:
        return WeightsRef(RANDOM_WEIGHTS, f"random-seed-{seed}")
    path = Path(spec).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file not found: {spec}. " + weights_help())
    return WeightsRef(str(path.resolve()), file_sha256(path))


def check_weights(ref: WeightsRef, info: BackboneInfo) -> None:
    """Refuse weights that differ from the ones an index was built with.

    Raises:
        IncompatibleIndexError: If the digests differ, or if their digest is
            not known yet (ImageNet weights not downloaded) and the index was
            made with other weights: refused before any download is tried.
    """
    if ref.sha256 is None and ref.source != info.weights:
        raise IncompatibleIndexError(
            f"the index was built with {info.describe()}, not {ref.source} weights; features "
            "from different weights cannot be compared. Drop --weights to use the index's own."
        )
    if ref.sha256 is not None and ref.sha256 != info.weights_sha256:
        raise IncompatibleIndexError(
            f"the index was built with {info.describe()} (sha256 {info.weights_sha256[:12]}…), "
            f"but these weights are {ref.source} (sha256 {ref.sha256[:12]}…); features from "
            "different weights cannot be compared. Use the same --weights, or build a new "
            "index with --index PATH or --fresh."
        )


def weights_help() -> str:
    """How to get the VGG16 ImageNet weights without a network, for an error message."""
    # only remedies that work for every command; build adds its own for a new index
    return (
        f"To run offline, download {VGG16_WEIGHTS_URL} on a machine with a network "
        "and pass it with --weights PATH (or set EXPLORER_WEIGHTS=PATH), or copy it to "
        f"{keras_cache_path(VGG16_WEIGHTS_FILE)} so Keras finds it."
    )
