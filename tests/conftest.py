"""Shared fixtures: small image folders made with Pillow at test time, fake backbones."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from explorer.features import registry as backbones
from explorer.features.base import BackboneInfo, BackboneSpec, Embedding, WeightsRef

_CLASS_MIX = np.random.default_rng(0).normal(size=(192, 1000)).astype(np.float32)
FAMILIES = {"red": (200, 30, 30), "green": (30, 170, 60), "blue": (40, 60, 210)}


def make_family_image(path: Path, colour: tuple[int, int, int], seed: int, size: int = 96) -> Path:
    """A noisy image dominated by ``colour``, with a bright square placed by ``seed``."""
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.float32)
    pixels = base + rng.normal(0, 18, (size, size, 3))
    x, y = rng.integers(0, size // 2, 2)
    pixels[y : y + size // 3, x : x + size // 3] = base * 0.5 + 120
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def families(tmp_path: Path) -> Path:
    """``photos/`` with 3 colour families x 4 images, one in a subfolder."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for f, (name, colour) in enumerate(FAMILIES.items()):
        for i in range(4):
            folder = root / "sub" if (name == "blue" and i == 3) else root
            # Fixed seeds (1000+) that no test's extra image uses: str hashes
            # vary per process and once made a "new" query byte-identical.
            make_family_image(folder / f"{name}-{i}.png", colour, seed=1000 + 10 * f + i)
    return root


class FakeBackbone:
    """A cheap deterministic backbone: 8x8 mean colours plus fake class probabilities."""

    batch_size = 4

    def __init__(self, weights: str = "fake-weights") -> None:
        self.info = BackboneInfo("fake", "pool8", 192, weights, f"sha-{weights}")
        self.calls = 0

    def embed(self, pixels: NDArray[np.uint8]) -> Embedding:
        self.calls += 1
        n = pixels.shape[0]
        x = pixels.astype(np.float32).reshape(n, 8, 28, 8, 28, 3).mean(axis=(2, 4)) / 255.0
        feats = x.reshape(n, -1)
        logits = feats @ _CLASS_MIX * 4
        probs = np.exp(logits - logits.max(1, keepdims=True))
        return Embedding(feats, (probs / probs.sum(1, keepdims=True)).astype(np.float32))


class Loads:
    """Counts how often the fake backbone was built, and how many images it saw."""

    def __init__(self) -> None:
        self.builds = 0
        self.images = 0
        self.fail_after: int | None = None


@pytest.fixture
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loads]:
    """Register backbone ``fake`` (needs weights; any name is accepted as weights)."""
    loads = Loads()

    def build(ref: WeightsRef, seed: int) -> FakeBackbone:
        loads.builds += 1
        bb = FakeBackbone(os.path.basename(ref.source))
        original = bb.embed

        def embed(pixels: NDArray[np.uint8]) -> Embedding:
            if loads.fail_after is not None and loads.images >= loads.fail_after:
                raise KeyboardInterrupt
            loads.images += len(pixels)
            return original(pixels)

        bb.embed = embed  # type: ignore[method-assign]
        return bb

    def resolve(spec: str, *, seed: int = 0) -> WeightsRef:
        return WeightsRef(spec, f"sha-{os.path.basename(spec)}")

    spec = BackboneSpec("fake", "pool8", 192, "test backbone", True, build)
    monkeypatch.setitem(backbones.BACKBONES, "fake", spec)
    monkeypatch.setattr(backbones, "resolve_weights", resolve)
    yield loads


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLORER_INDEX", raising=False)
    monkeypatch.delenv("EXPLORER_WEIGHTS", raising=False)
    random.seed(0)
