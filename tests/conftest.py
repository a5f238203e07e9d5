"""Shared fixtures: small image folders made with Pillow, fake backbones, the browser report.

The builders behind them, and anything a test imports by name, are in
``tests/helpers.py``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import FAMILIES, Loads, make_family_image, register_fake_backbone

if TYPE_CHECKING:
    from explorer.page.data import ReportData


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


# ---------------------------------------------------------------- the browser tests' report
# One home for the fixtures of tests/test_browser*.py (the steps are in browser_harness).
# A module that needs other data (test_report*.py, test_browser_duplicates.py) defines its own.


@pytest.fixture(scope="module")
def report_data() -> ReportData:
    """The sample report most browser tests open (skips without playwright or Chromium)."""
    from browser_harness import sample_data

    return sample_data()


@pytest.fixture(scope="module")
def report_path(report_data: ReportData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``report_data`` written as ``photos.html``, once per test module."""
    from explorer.page.render import write_report

    return write_report(report_data, tmp_path_factory.mktemp("browser") / "photos.html")


@pytest.fixture
def page(report_path: Path) -> Iterator[Any]:
    """A fresh page of ``report_path``; on leaving, asserts it logged no error or dialog."""
    from browser_harness import browser_page

    with browser_page(report_path) as pg:
        yield pg


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a test module that opens several pages (``open_page``)."""
    from browser_harness import launch

    with launch() as b:
        yield b
