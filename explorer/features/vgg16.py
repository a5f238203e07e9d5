"""VGG16 in Keras: fc2 features (4096-d) and ImageNet class probabilities.

Also the Keras helpers every Keras backbone uses (:func:`import_keras`,
:func:`quiet_stderr`). TensorFlow is imported only when a network is built.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.errors import WeightsUnavailableError
from explorer.features.base import (
    IMAGENET_WEIGHTS,
    RANDOM_WEIGHTS,
    Backbone,
    BackboneInfo,
    Embedding,
    WeightsRef,
)
from explorer.features.weights import (
    VGG16_WEIGHTS_FILE,
    VGG16_WEIGHTS_MD5,
    VGG16_WEIGHTS_URL,
    weights_help,
)
from explorer.fs import file_sha256

log = logging.getLogger(__name__)


class KerasBackbone:
    """A Keras classifier network read at one layer plus its softmax output."""

    def __init__(
        self,
        info: BackboneInfo,
        model: Any,
        preprocess: Callable[[NDArray[np.float32]], NDArray[np.float32]],
        *,
        batch_size: int,
    ) -> None:
        self.info = info
        self.batch_size = batch_size
        self._model = model
        self._preprocess = preprocess

    def embed(self, pixels: NDArray[np.uint8]) -> Embedding:
        """Run the network on one batch."""
        x = self._preprocess(pixels.astype(np.float32))
        features, probabilities = self._model.predict_on_batch(x)
        return Embedding(
            np.asarray(features, dtype=np.float32), np.asarray(probabilities, dtype=np.float32)
        )


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block.

    TensorFlow's C++ runtime prints start-up and GPU-probing lines ("Could not
    find cuda drivers", "failed call to cuInit") that no log setting silences.
    Python exceptions raised in the block still propagate with their messages.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_keras() -> Any:
    """Import Keras (and TensorFlow) without its start-up chatter on stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr():
        import keras
    return keras


def _reason(exc: BaseException) -> str:
    """An exception as one whole line: its type and its full message."""
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _download_imagenet() -> Path:
    """Fetch (or find) the VGG16 ImageNet weights in Keras' cache."""
    keras = import_keras()

    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout clean for --json
            path = keras.utils.get_file(
                VGG16_WEIGHTS_FILE,
                VGG16_WEIGHTS_URL,
                cache_subdir="models",
                file_hash=VGG16_WEIGHTS_MD5,
            )
        return Path(path)
    except Exception as exc:  # network errors come in many types
        raise WeightsUnavailableError(
            f"could not download the VGG16 ImageNet weights ({_reason(exc)}). {weights_help()}"
        ) from exc


def build_vgg16(ref: WeightsRef, seed: int) -> Backbone:
    """Build VGG16 read at fc2 and at its softmax, with the weights ``ref`` names.

    Raises:
        WeightsUnavailableError: The ImageNet download failed, or the file
            cannot be read as VGG16 weights.
    """
    if ref.source == IMAGENET_WEIGHTS:  # first: a failed download needs no network built
        weights_path = _download_imagenet()
        ref = WeightsRef(IMAGENET_WEIGHTS, file_sha256(weights_path))
    keras = import_keras()
    from keras.applications import vgg16

    if ref.source == RANDOM_WEIGHTS:
        log.warning("using seeded random VGG16 weights: similarities are not meaningful")
        keras.utils.set_random_seed(seed)
    with quiet_stderr():
        if ref.source == RANDOM_WEIGHTS:
            model = vgg16.VGG16(weights=None, include_top=True)
        else:
            model = _load_vgg16(
                vgg16, str(weights_path) if ref.source == IMAGENET_WEIGHTS else ref.source
            )
        both = keras.Model(model.input, [model.get_layer("fc2").output, model.output])
    assert ref.sha256 is not None
    info = BackboneInfo("vgg16", "fc2", 4096, ref.source, ref.sha256)
    return KerasBackbone(info, both, vgg16.preprocess_input, batch_size=16)


def _load_vgg16(vgg16: Any, path: str) -> Any:
    try:
        return vgg16.VGG16(weights=path, include_top=True)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"could not read VGG16 weights from {path} ({_reason(exc)}); expected the file "
            f"Keras downloads, {VGG16_WEIGHTS_FILE}. " + weights_help()
        ) from exc
