"""Shared fixtures: small image folders made with Pillow at test time, fake backbones.

The builders behind them, and anything a test imports by name, are in
``tests/helpers.py``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import FAMILIES, Loads, make_family_image, register_fake_backbone


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


@pytest.fixture
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loads]:
    """Register backbone ``fake`` (needs weights; any name is accepted as weights)."""
    yield register_fake_backbone(monkeypatch)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLORER_INDEX", raising=False)
    monkeypatch.delenv("EXPLORER_WEIGHTS", raising=False)
    random.seed(0)
