"""The report's tags and duplicate badges in a real browser: colour by tag, search by tag."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_harness import IMAGES_LOADED, REPO, check_report_in_browser, pixel

from explorer.page.data import ReportData
from explorer.page.render import write_report

pytestmark = pytest.mark.slow

TAG_SCREENSHOT = REPO / "reports" / "screenshot-tags.png"


_LEGEND_LABELS = """() => [...document.querySelectorAll('#legend .legend-item')]
  .filter(b => !b.hidden).map(b => b.querySelector('.legend-label').textContent + ' '
    + b.querySelector('.legend-count').textContent)"""


def _wait_for_legend(page: Any, labels: list[str]) -> None:
    """Wait until the legend's shown entries read ``labels``, as text."""
    page.wait_for_function(
        f"want => JSON.stringify(({_LEGEND_LABELS})()) === JSON.stringify(want)", arg=labels
    )


def _is_grey(rgb: tuple[int, int, int]) -> bool:
    return min(rgb) > 170 and max(rgb) - min(rgb) < 40


def _is_tag_colour(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return b > 170 and b - r > 80 and b - g > 80


def _short(text: str, limit: int = 36) -> str:
    """As the page script's ``short()`` cuts a cluster name in the legend."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def test_colour_by_tag(page: Any, report_data: ReportData) -> None:
    from test_report import CLUSTER_NAMES, HOSTILE_CLUSTER

    from explorer.page.figure import GREY

    tags = report_data.tags or []
    names = sorted({t for ts in tags for t in ts})
    warm = [i for i, ts in enumerate(tags) if "warm" in ts]
    other = next(i for i, ts in enumerate(tags) if not ts)
    assert page.locator("#color-by-box").is_visible()
    state = r"""() => ({
      fills: ExplorerApp.state.rends.map(r => r.glyph.fill_color.value),
      tagged: ExplorerApp.state.tagSrc.data.x.length,
      item: document.getElementById('legend-tag').hidden ? null
        : document.getElementById('legend-tag').textContent.replace(/^(.*?)(\(\d+\))$/, '$1 $2'),
      mode: document.body.dataset.colorBy})"""
    clusters = page.evaluate("ExplorerApp.data.clusters.map(c => c.color)")
    assert page.evaluate(state) == {"fills": clusters, "tagged": 0, "item": None, "mode": "cluster"}
    # The legend names every cluster with its size, hostile names as text.
    sizes = np.bincount(report_data.labels).tolist()
    legend = [f"{_short(n)} ({c})" for n, c in zip(CLUSTER_NAMES, sizes, strict=True)]
    _wait_for_legend(page, legend)
    assert legend[0] == f"{HOSTILE_CLUSTER} ({sizes[0]})"
    page.mouse.move(5, 5)
    assert not _is_grey(pixel(page, other)) and not _is_tag_colour(pixel(page, other))

    page.select_option("#color-by", value=str(names.index("warm")))
    page.wait_for_function("document.body.dataset.colorBy === 'tag'")
    now = page.evaluate(state)
    assert now["fills"] == [GREY] * len(clusters)
    assert now["tagged"] == len(warm)
    assert now["item"] == f"tag: warm ({len(warm)})"
    _wait_for_legend(page, [f"tag: warm ({len(warm)})", *legend])
    page.wait_for_timeout(100)
    assert _is_tag_colour(pixel(page, warm[3])), pixel(page, warm[3])
    assert _is_grey(pixel(page, other)), pixel(page, other)

    # Hover and click still work on tagged and greyed images.
    for i in (warm[3], other):
        x, y = page.evaluate("i => ExplorerApp.clientPos(i)", i)
        page.mouse.move(x, y, steps=3)
        page.wait_for_function(f"document.getElementById('tip').dataset.index === '{i}'")
    page.mouse.click(*page.evaluate("i => ExplorerApp.clientPos(i)", warm[3]))
    page.wait_for_function(f"document.body.dataset.pinned === '{warm[3]}'")
    assert page.locator("#pin button.tagchip.on").all_text_contents() == ["warm"]

    # Hiding a cluster hides its tagged images too.
    c = int(report_data.labels[warm[0]])
    in_c = sum(1 for i in warm if report_data.labels[i] == c)
    page.click(f"button.solo[data-cluster='{c}']")
    page.wait_for_function(f"ExplorerApp.state.tagSrc.data.x.length === {in_c}")
    page.click(f"button.solo[data-cluster='{c}']")
    page.wait_for_function(f"ExplorerApp.state.tagSrc.data.x.length === {len(warm)}")

    # A tag chip in the panel switches to that tag; the control follows.
    page.evaluate("ExplorerApp.pin(3)")
    page.click("#pin button.tagchip:text-is('favourite')")
    fav = names.index("favourite")
    page.wait_for_function(f"ExplorerApp.state.colorTag === {fav}")
    assert page.input_value("#color-by") == str(fav)
    assert page.evaluate(state)["tagged"] == 2

    # The screenshot: coloured by a tag spread over all clusters, one image pinned
    # (its tags as chips) and a tagged image of another cluster hovered.
    outdoor = [i for i, ts in enumerate(tags) if "outdoor" in ts]
    page.select_option("#color-by", value=str(names.index("outdoor")))
    page.evaluate("ExplorerApp.pin(4); window.scrollTo(0, 0)")
    hover = next(i for i in outdoor if report_data.labels[i] != report_data.labels[4])
    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", hover)
    page.mouse.move(x, y, steps=3)
    page.wait_for_selector("#tip .tagchip")
    page.wait_for_function(IMAGES_LOADED, arg="#tip img")
    TAG_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(TAG_SCREENSHOT))

    page.select_option("#color-by", value="-1")
    page.wait_for_function("document.body.dataset.colorBy === 'cluster'")
    assert page.evaluate(state) == {"fills": clusters, "tagged": 0, "item": None, "mode": "cluster"}
    _wait_for_legend(page, legend)


def test_search_matches_tags(page: Any) -> None:
    page.fill("#search", "FAVOURITE")
    page.wait_for_function("document.getElementById('search-count').textContent === '2 matches'")
    assert page.evaluate("ExplorerApp.state.matches") == [3, 4]
    page.fill("#search", "script>alert")
    page.press("#search", "Enter")
    page.wait_for_function("document.body.dataset.pinned === '0'")
    page.fill("#search", "warm")
    page.wait_for_function("document.getElementById('search-count').textContent === '7 matches'")
    page.fill("#search", "jpg warm")  # a path and a tag are separate texts
    page.wait_for_function("document.getElementById('search-count').textContent === 'no match'")


def test_duplicate_badges_and_histogram(page: Any, report_data: ReportData) -> None:
    keepers = report_data.duplicate_keepers or []
    exact = {i for s in report_data.exact_copies or [] for i in s}
    groups = report_data.duplicate_groups
    members = [i for g in groups for i in g.members]
    page.locator("#dup-list").scroll_into_view_if_needed()
    first = page.eval_on_selector_all(
        "#dup-list .dup", "ds => ds.map(d => Number(d.querySelector('figure').dataset.index))"
    )
    assert first == keepers  # the suggested keeper comes first
    assert (
        page.eval_on_selector_all(
            "#dup-list .dup-member.keep", "fs => fs.map(f => Number(f.dataset.index))"
        )
        == keepers
    )
    assert page.locator("#dup-list .badge .keep").count() == len(groups)
    assert page.eval_on_selector_all(
        "#dup-list .dup-member:has(.badge .exact)", "fs => fs.map(f => Number(f.dataset.index))"
    ) == sorted((i for i in members if i in exact), key=lambda i: i not in keepers)
    # The histogram is drawn: one visible bar per threshold with pairs, and the cut.
    hist = report_data.duplicate_histogram or []
    bars = page.eval_on_selector_all(
        "#dup-hist rect.hist-bar", "rs => rs.map(r => r.getBoundingClientRect().height)"
    )
    assert len(bars) == len(hist)
    assert all((h > 0) == (c > 0) for h, (_, c) in zip(bars, hist, strict=True))
    assert page.locator("#dup-hist .hist-cut").bounding_box()["height"] > 50
    assert "explorer duplicates --threshold T" in page.text_content("#dup-hist")
    # Example pairs on each side of the cut, as thumbnails with their cosine.
    above, below = report_data.duplicate_examples or ([], [])
    assert above and below
    for side, pairs in ((".above", above), (".below", below)):
        shown = page.eval_on_selector_all(
            f"#dup-near {side} figure",
            "fs => fs.map(f => [...f.querySelectorAll('button')].map(b => Number(b.dataset.index))"
            ".concat([f.querySelector('figcaption').textContent]))",
        )
        assert [s[:2] for s in shown] == [[i, j] for i, j, _ in pairs]
        assert all(cap.startswith("cosine ") for *_, cap in shown)
    assert all(c >= report_data.dup_threshold for *_, c in above)  # type: ignore[operator]
    assert all(c < report_data.dup_threshold for *_, c in below)  # type: ignore[operator]
    page.locator("#dup-near").scroll_into_view_if_needed()
    page.wait_for_function(
        "[...document.querySelectorAll('#dup-near img')].every(i => i.naturalWidth > 0)"
    )
    # The pinned panel says which image to keep.
    page.evaluate(f"ExplorerApp.pin({keepers[0]})")
    assert page.locator("#pin .tag.keep").count() == 1


def test_report_without_tags_or_histogram(report_data: ReportData, tmp_path: Path) -> None:
    from test_report import HOSTILE

    plain = replace(
        report_data,
        tags=None,
        exact_copies=None,
        duplicate_keepers=None,
        duplicate_histogram=None,
        dup_threshold=None,
    )
    r = check_report_in_browser(write_report(plain, tmp_path / "plain.html"), HOSTILE)
    assert r["dialogs"] == [] and r["console_errors"] == [] and r["page_errors"] == []
    assert r["tooltip_name"] == HOSTILE and r["tooltip_tags"] == [] and r["pinned_tags"] == []
    assert r["color_by"] is None
