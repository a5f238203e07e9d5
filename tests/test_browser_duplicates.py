"""The report's duplicate section in a real browser: paged, uncropped, flagged, copies folded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorer.analysis.duplicates import DuplicateGroup
from explorer.page.data import ReportData
from explorer.page.payload import DUP_GROUPS_PAGE
from explorer.page.render import write_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data() -> ReportData:
    from browser_harness import require_browser
    from test_report import make_report_data

    require_browser()
    base = make_report_data(n_per_family=8)
    n = len(base.paths)
    # 16 groups: one exact pair (5 and the last image), one of 7 near images, 14 pairs
    exact = DuplicateGroup(members=[5, n - 1], pairs=[(5, n - 1, 1.0)], exact=True)
    big = list(range(8, 15))
    near_big = DuplicateGroup(
        members=big, pairs=[(a, b, 0.9) for a in big for b in big if a < b], exact=False
    )
    rest = [i for i in range(n - 1) if i not in big and i != 5]
    twos = list(zip(rest[::2], rest[1::2], strict=False))[:14]
    pairs = [DuplicateGroup(members=[a, b], pairs=[(a, b, 0.88)]) for a, b in twos]
    groups = [near_big, exact, *pairs]
    # image 0's neighbours: both exact copies, then others
    nbrs = np.asarray(base.neighbors).copy()
    nbrs[0, :3] = [5, n - 1, 1]
    return replace(
        base,
        neighbors=nbrs,
        duplicate_groups=groups,
        duplicate_keepers=[g.members[0] for g in groups],
        duplicate_reasons=["4032×3024, sharpest"] + ["320×200, largest file"] * (len(groups) - 1),
        image_details=[f"{i}×10 · 1.0\u00a0kB · 2026-01-01" for i in range(n)],
        exact_copies=[[5, n - 1]],
    )


@pytest.fixture
def page(data: ReportData, tmp_path: Path) -> Iterator[Any]:
    from browser_harness import browser_page

    with browser_page(write_report(data, tmp_path / "dups.html")) as pg:
        yield pg


def test_duplicate_list_is_paged(page: Any, data: ReportData) -> None:
    cards = page.locator("#dup-list .dup")
    assert cards.count() == DUP_GROUPS_PAGE < len(data.duplicate_groups)
    more = page.locator("button.dup-more")
    assert f"of {len(data.duplicate_groups) - DUP_GROUPS_PAGE} groups" in more.text_content()
    more.click()
    assert cards.count() == len(data.duplicate_groups)
    assert page.locator("button.dup-more").count() == 0


def test_cards_show_what_decides(page: Any, data: ReportData) -> None:
    first = page.locator("#dup-list .dup").first
    assert "over 5 images" in first.locator(".dup-head").text_content()
    assert first.locator(".dup-reason").text_content() == "keep: 4032×3024, sharpest"
    assert first.locator(".dup-detail").first.text_content() == (data.image_details or [])[8]
    exact = page.locator("#dup-list .dup").nth(1)
    assert "exact copies" in exact.locator(".dup-head").text_content()
    assert "over 5" not in exact.locator(".dup-head").text_content()
    assert all(
        "over 5" not in page.locator("#dup-list .dup").nth(k).text_content()
        for k in range(1, DUP_GROUPS_PAGE)
    )
    fit = page.eval_on_selector("#dup-list .dup-member img", "i => getComputedStyle(i).objectFit")
    assert fit == "contain"  # the whole picture, not a square crop of it


def test_exact_copies_fold_into_one_chip(page: Any, data: ReportData) -> None:
    # pin image 0, whose first two neighbours are byte-identical copies of each other
    page.fill("#search", data.paths[0].rsplit("/", 1)[-1][:6])
    page.press("#search", "Enter")
    page.wait_for_function("document.querySelectorAll('#pin .nbr').length > 0")
    shown = page.eval_on_selector_all("#pin .nbr", "bs => bs.map(b => Number(b.dataset.index))")
    n = len(data.paths)
    assert 5 in shown and n - 1 not in shown  # one entry for both copies
    assert len(shown) == len(set(shown))
    chip = page.locator("#pin .nbr").first.locator(".tag.copies")
    assert chip.text_content() == "+1 exact copy"


def test_copies_fold_inside_a_group_of_near_duplicates(data: ReportData, tmp_path: Path) -> None:
    """Byte-identical twins in a mixed group (with a resized copy of theirs) still fold."""
    from browser_harness import browser_page

    n = len(data.paths)
    mixed = DuplicateGroup(
        members=[5, 6, n - 1], pairs=[(5, 6, 0.9), (5, n - 1, 1.0), (6, n - 1, 0.9)]
    )
    rest = [g for g in data.duplicate_groups if not ({5, 6, n - 1} & set(g.members))]
    variant = replace(
        data,
        duplicate_groups=[mixed, *rest],
        duplicate_keepers=[5, *(g.members[0] for g in rest)],
        duplicate_reasons=None,
    )
    with browser_page(write_report(variant, tmp_path / "mixed.html")) as page:
        page.evaluate("ExplorerApp.pin(0)")
        page.wait_for_function("document.querySelectorAll('#pin .nbr').length > 0")
        shown = page.eval_on_selector_all("#pin .nbr", "bs => bs.map(b => Number(b.dataset.index))")
        assert 5 in shown and n - 1 not in shown
        assert page.locator("#pin .nbr").first.locator(".tag.copies").text_content() == (
            "+1 exact copy"
        )
        head = page.locator("#dup-list .dup").first.locator(".dup-head").text_content()
        assert "exact copies" not in head  # a group of near-duplicates, twins marked inside
        badges = page.locator("#dup-list .dup").first.locator(".exact")
        assert badges.count() == 2
