"""The report in a real browser: hover, pin, search, select, legend, gallery, sidecar.

Headless Chromium driven by playwright; the shared steps are in ``browser_harness``,
the report fixtures (``report_data``, ``report_path``, ``page``) in ``conftest.py``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_harness import IMAGES_LOADED, REPO, check_report_in_browser, folded_neighbors

from explorer.page.data import ReportData
from explorer.page.render import write_report

pytestmark = pytest.mark.slow

SCREENSHOT = REPO / "reports" / "screenshot.png"


def test_report_in_browser(report_data: ReportData, report_path: Path) -> None:
    from test_report import HOSTILE, HOSTILE_TAG

    r = check_report_in_browser(report_path, HOSTILE, screenshot=SCREENSHOT)
    n = len(report_data.paths)
    assert r["n"] == n
    assert r["dialogs"] == [] and r["console_errors"] == [] and r["page_errors"] == []
    assert r["injected"] == 0
    assert r["load_s"] < 3.0, f"report took {r['load_s']:.2f} s to become ready"
    assert r["hostile_index"] == 0
    # Hover: the hostile image's card, with its 5 neighbours (two of them byte-identical
    # copies, listed once), every image decoded.
    listed = folded_neighbors(report_data, 0)
    assert len(listed) == 4 and set(report_data.neighbors[0].tolist()) - set(listed)
    assert r["hovered"] == 0
    assert r["tooltip_name"] == HOSTILE
    assert len(r["tooltip_images"]) == 1 + 4 and all(w > 0 for w in r["tooltip_images"])
    # Click: pinned with its neighbours; clicking the first one moves the pin there.
    assert r["pinned"] == 0
    assert r["panel_neighbors"] == listed
    assert all(w > 0 for w in r["panel_images"])
    assert r["moved_to"] == r["panel_neighbors"][0] != 0
    # Search by the hostile name finds it and shows the name as plain text.
    assert r["searched_pin"] == 0
    assert r["pinned_name"] == HOSTILE
    assert r["search_count"] == "1 match"
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 10_000
    # Hostile tag and cluster names show as text, in the card and in the panel.
    names = report_data.cluster_names or []
    tags = report_data.tags or []
    assert r["tooltip_cluster"] == r["pinned_cluster"] == names[report_data.labels[0]]
    assert r["tooltip_tags"] == r["pinned_tags"] == tags[0]
    assert HOSTILE_TAG in tags[0]
    assert r["color_by"][0] == "Cluster" and f"{HOSTILE_TAG} (1)" in r["color_by"]


def test_quoted_names_and_replacement_characters_show_as_text(page: Any) -> None:
    from test_report import QUOTED

    page.fill("#search", "Jerry")
    page.press("#search", "Enter")
    page.wait_for_function("document.body.dataset.pinned === '1'")
    assert page.text_content("#pin .pin-name") == QUOTED
    page.fill("#search", "latin1")
    page.press("#search", "Enter")
    page.wait_for_function("document.body.dataset.pinned === '2'")
    assert page.text_content("#pin .pin-name") == "latin1-caf\ufffd.jpg"
    page.fill("#search", "no such file")
    page.wait_for_function("document.getElementById('search-count').textContent === 'no match'")


def test_box_selection_lists_files_and_downloads_csv(page: Any, report_data: ReportData) -> None:
    page.click(".bk-tool-icon-box-select")
    box = page.evaluate(
        """() => {
          const v = Bokeh.index.find_one(ExplorerApp.state.fig);
          const r = v.canvas_view.el.getBoundingClientRect(), b = v.frame.bbox;
          return [r.left + b.left, r.top + b.top, r.left + b.right, r.top + b.bottom];
        }"""
    )
    page.mouse.move(box[0] + 2, box[1] + 2)
    page.mouse.down()
    page.mouse.move(box[2] - 2, box[3] - 2, steps=8)
    page.mouse.up()
    n = len(report_data.paths)
    page.wait_for_function(f"document.body.dataset.selected === '{n}'")
    assert page.locator("#selection .sel-item").count() == n
    with page.expect_download() as info:
        page.click("#download-csv")
    download = info.value
    assert download.suggested_filename == "selection.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert len(rows) == n
    assert [int(r["index"]) for r in rows] == list(range(n))
    assert rows[0]["path"] == report_data.paths[0]
    tags = report_data.tags or []
    assert [r["tags"] for r in rows] == [";".join(t) for t in tags]
    assert rows[0]["tags"].startswith("<script>")  # as text; cells get ' only before = + - @
    assert {int(r["cluster"]) for r in rows} == set(report_data.labels.tolist())
    page.click("#selection button:has-text('Clear')")
    page.wait_for_function("document.body.dataset.selected === '0'")
    assert page.locator("#selection").is_hidden()


def test_lasso_selection_lists_the_points_inside(page: Any, report_data: ReportData) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    n = len(report_data.paths)
    pos = np.array([page.evaluate("i => ExplorerApp.clientPos(i)", i) for i in range(n)])
    # a lasso that circles one cluster's points and no other point: a ring 6 px outside
    # the farthest member, with every other point at least 10 px beyond it (UMAP places
    # the clusters; which of them is set apart like this varies with the machine)
    rings = []
    for c in sorted(set(report_data.labels.tolist())):
        inside = report_data.labels == c
        centre = pos[inside].mean(axis=0)
        radius = float(np.linalg.norm(pos[inside] - centre, axis=1).max()) + 6
        if np.linalg.norm(pos[~inside] - centre, axis=1).min() > radius + 10:
            rings.append((radius, centre, np.flatnonzero(inside).tolist()))
    assert rings, "no cluster of the sample map stands apart from the others"
    radius, (x, y), chosen = min(rings, key=lambda r: r[0])
    page.click(".bk-tool-icon-lasso-select")
    ring = [(x + radius * np.cos(a), y + radius * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 17)]
    page.mouse.move(*ring[0])
    page.mouse.down()
    for px, py in ring[1:]:
        page.mouse.move(px, py, steps=3)
    page.mouse.up()
    page.wait_for_function(f"document.body.dataset.selected === '{len(chosen)}'")
    items = page.locator("#selection .sel-item")
    assert items.count() == len(chosen)
    listed = " ".join(items.all_text_contents())
    assert all(report_data.paths[i].rsplit("/", 1)[-1] in listed for i in chosen)
    page.click("#selection button:has-text('Clear')")
    page.wait_for_function("document.body.dataset.selected === '0'")


def test_hidden_clusters_are_not_hoverable(page: Any, report_data: ReportData) -> None:
    labels = report_data.labels.tolist()
    page.click("button.solo[data-cluster='0']")
    page.wait_for_function("ExplorerApp.state.rends.filter(r => r.visible).length === 1")
    assert page.text_content("button.solo[data-cluster='0']") == "Show all"
    page.evaluate("window.scrollTo(0, 0)")
    hidden = labels.index(1)
    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", hidden)
    page.mouse.move(x, y, steps=3)
    page.wait_for_timeout(200)
    assert page.locator("#tip").is_hidden()
    shown = labels.index(0)
    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", shown)
    page.mouse.move(x, y, steps=3)
    page.wait_for_selector("#tip:not([hidden])")
    page.click("button.solo[data-cluster='0']")
    page.wait_for_function("ExplorerApp.state.rends.every(r => r.visible)")


def test_legend_click_hides_and_shows_a_cluster(page: Any, report_data: ReportData) -> None:
    """A real click on a legend entry (an HTML list beside the map) hides that cluster."""
    page.evaluate("window.scrollTo(0, 0)")
    k = len(report_data.representatives)
    entries = page.locator("#legend button[data-cluster]")
    assert entries.count() == k  # one entry per cluster (the tag entry is hidden)
    assert page.locator("#legend-tag").is_hidden()
    for cluster in (0, k - 1):
        entries.nth(cluster).click()
        page.wait_for_function(f"!ExplorerApp.state.rends[{cluster}].visible")
        visible = page.evaluate("ExplorerApp.state.rends.map(r => r.visible)")
        assert visible == [c != cluster for c in range(k)]
        assert "off" in (entries.nth(cluster).get_attribute("class") or "")
        entries.nth(cluster).click()
        page.wait_for_function("ExplorerApp.state.rends.every(r => r.visible)")


def test_gallery_and_duplicates_render_thumbnails(page: Any, report_data: ReportData) -> None:
    k = len(report_data.representatives)
    assert page.locator("#gallery-grid .cluster").count() == k
    reps = sum(len(r) for r in report_data.representatives)
    assert page.locator("#gallery-grid .rep img").count() == reps
    groups = report_data.duplicate_groups
    assert groups, "the synthetic data holds a near-duplicate pair"
    assert page.locator("#dup-list .dup").count() == len(groups)
    page.locator("#dup-list .dup").first.scroll_into_view_if_needed()
    page.wait_for_function(IMAGES_LOADED, arg="#dup-list img")
    first = groups[0].members[0]
    page.click(f"#dup-list button.dup-thumb[data-index='{first}']")
    page.wait_for_function(f"document.body.dataset.pinned === '{first}'")


def test_sidecar_report_loads_thumbnails_from_files(
    report_data: ReportData, tmp_path: Path
) -> None:
    out = write_report(report_data, tmp_path / "side car.html", embed_limit=5)
    assert (tmp_path / "side car_files").is_dir()
    r = check_report_in_browser(out, "red-03.jpg")
    assert r["dialogs"] == [] and r["console_errors"] == [] and r["page_errors"] == []
    assert r["tooltip_name"] == "red-03.jpg"
    listed = folded_neighbors(report_data, r["hovered"])
    assert len(r["tooltip_images"]) == 1 + len(listed) and all(w > 0 for w in r["tooltip_images"])
    assert all(w > 0 for w in r["panel_images"])


def test_escape_unpins_after_clicking_the_map(page: Any) -> None:
    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", 3)
    page.mouse.click(x, y)
    page.wait_for_function("document.body.dataset.pinned !== undefined")
    page.keyboard.press("Escape")
    page.wait_for_function("document.body.dataset.pinned === undefined")
    assert "empty" in (page.get_attribute("#pin", "class") or "")
