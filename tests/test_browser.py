"""The report in a real browser: headless Chromium driven by playwright.

``check_report_in_browser`` is reusable on any report (for example one written by
the real pipeline): it hovers, clicks, follows a neighbour, searches for the
hostile file name and records what a user would see, and the tests assert on it.
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorer.report.data import ReportData
from explorer.report.render import write_report

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "reports" / "screenshot.png"
TAG_SCREENSHOT = REPO / "reports" / "screenshot-tags.png"
VIEWPORT = {"width": 1440, "height": 900}

_IMAGES_LOADED = """sel => {
  const imgs = [...document.querySelectorAll(sel)];
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


_MAP_STATE = """() => {
  const S = ExplorerApp.state, v = Bokeh.index.find_one(S.fig);
  const seen = new Uint8Array(ExplorerApp.data.paths.length);
  let points = 0, distinct = 0;
  S.srcs.forEach(src => { points += src.data.x.length;
    for (const i of src.data.i) { if (!seen[i]) { seen[i] = 1; distinct += 1; } } });
  const views = S.rends.map(r => v.renderer_views.get(r));
  const gl = document.createElement('canvas').getContext('webgl');
  const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
  return {points: points, distinct_points: distinct, webgl: {
    backend: v.model.output_backend, context: v.canvas_view.webgl != null,
    renderers: views.filter(rv => rv && rv.has_webgl).length, of: views.length,
    gl_renderer: info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : null}};
}"""


def _require_browser() -> None:
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def check_report_in_browser(
    html_path: Path,
    hostile_name: str,
    *,
    screenshot: Path | None = None,
    timeout_ms: int = 15_000,
    highlight: str | None = None,
) -> dict[str, Any]:
    """Open a report from ``file://`` in headless Chromium and exercise it like a user.

    Hovers the image named ``hostile_name`` (or image 0 when there is none), clicks
    it, clicks its first neighbour in the pinned panel, optionally searches for
    ``highlight`` (to see many points highlighted), then searches for
    ``hostile_name`` and presses Enter (which pins the first match).

    Args:
        html_path: The report.
        hostile_name: A file name (without folder) to look for, e.g.
            ``"<img src=x onerror=alert(1)>.jpg"``.
        screenshot: Where to save a screenshot of the viewport (pinned panel and
            hover card showing), or ``None``.
        timeout_ms: Longest wait for any single step.
        highlight: A search text expected to match several images, or ``None``.

    Returns:
        A dict with ``load_s`` (navigation to ready), ``n``, ``console_errors``,
        ``page_errors``, ``dialogs``, ``hovered`` (index), ``tooltip_name``,
        ``tooltip_images`` (``naturalWidth`` of every image in the hover card),
        ``pinned``, ``panel_neighbors`` (indices listed in the pinned panel),
        ``panel_images`` (their ``naturalWidth``), ``moved_to`` (pinned after
        clicking the first neighbour), ``hostile_index``, ``searched_pin``,
        ``pinned_name`` (text shown for the searched image), ``injected``
        (count of ``img[src=x]`` or ``[onerror]`` elements in the page),
        ``tooltip_cluster`` and ``tooltip_tags`` (cluster name and tag chips in
        the hover card), ``pinned_cluster`` and ``pinned_tags`` (the same in the
        panel of the searched image), ``color_by`` (the options of the "Colour
        by" control, or ``None`` when it is hidden because nothing is tagged),
        ``points`` and ``distinct_points`` (rows in the map's cluster data
        sources, and distinct image indices among them), ``webgl`` (the plot's
        ``backend``, whether BokehJS got a WebGL ``context``, how many cluster
        ``renderers`` draw with WebGL ``of`` how many, and the ``gl_renderer``),
        ``requests_at_ready`` (files other than the page that the browser had
        requested when the page became ready, e.g. sidecar thumbnails),
        ``tooltip_srcs`` and ``panel_srcs`` (the ``src`` attributes of the card's
        and the panel's images, the image's own first); with ``highlight``:
        ``highlight_count`` (the count shown), ``highlighted`` (the matching
        indices), ``highlight_ringed`` (how many points the map rings) and
        ``highlight_alpha`` (each cluster's fill alpha meanwhile).
    """
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"console_errors": [], "page_errors": [], "dialogs": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.set_default_timeout(timeout_ms)
            page.on(
                "console",
                lambda m: result["console_errors"].append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: result["page_errors"].append(str(e)))

            def on_dialog(dialog: Any) -> None:
                result["dialogs"].append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            url = Path(html_path).resolve().as_uri()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url) if r.url != url else None)
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function("document.body.dataset.ready === '1'")
            result["load_s"] = time.perf_counter() - start
            result["requests_at_ready"] = len(requests)
            result["n"] = page.evaluate("ExplorerApp.data.paths.length")
            result.update(page.evaluate(_MAP_STATE))
            hostile = page.evaluate("n => ExplorerApp.data.names.indexOf(n)", hostile_name)
            result["hostile_index"] = None if hostile < 0 else hostile
            target = max(hostile, 0)

            # Hover: the card shows the image, its name and its neighbours, all loaded.
            x, y = page.evaluate("i => ExplorerApp.clientPos(i)", target)
            page.mouse.move(x - 30, y - 30)
            page.mouse.move(x, y, steps=4)
            page.wait_for_selector("#tip:not([hidden])")
            page.wait_for_function(_IMAGES_LOADED, arg="#tip img")
            result["hovered"] = int(page.get_attribute("#tip", "data-index") or -1)
            result["tooltip_name"] = page.text_content("#tip .tip-name")
            result["tooltip_cluster"] = page.text_content("#tip .chip")
            result["tooltip_tags"] = page.eval_on_selector_all(
                "#tip .tagchip", "cs => cs.map(c => c.textContent)"
            )
            result["tooltip_images"] = page.eval_on_selector_all(
                "#tip img", "imgs => imgs.map(i => i.naturalWidth)"
            )
            result["tooltip_srcs"] = page.eval_on_selector_all(
                "#tip img", "imgs => imgs.map(i => i.getAttribute('src'))"
            )

            # Click: the pinned panel lists the neighbours; a neighbour moves the pin.
            page.mouse.click(x, y)
            page.wait_for_function("document.body.dataset.pinned !== undefined")
            result["pinned"] = int(page.evaluate("document.body.dataset.pinned"))
            page.wait_for_function(_IMAGES_LOADED, arg="#pin img")
            result["panel_neighbors"] = page.eval_on_selector_all(
                "#pin button.nbr", "bs => bs.map(b => Number(b.dataset.index))"
            )
            result["panel_images"] = page.eval_on_selector_all(
                "#pin img", "imgs => imgs.map(i => i.naturalWidth)"
            )
            result["panel_srcs"] = page.eval_on_selector_all(
                "#pin img", "imgs => imgs.map(i => i.getAttribute('src'))"
            )
            result["moved_to"] = None
            if result["panel_neighbors"]:
                page.click("#pin button.nbr >> nth=0")
                page.wait_for_function(
                    "want => document.body.dataset.pinned === String(want)",
                    arg=result["panel_neighbors"][0],
                )
                result["moved_to"] = int(page.evaluate("document.body.dataset.pinned"))

            if highlight is not None:
                # Matches get a ring (the overlay source) and everything else fades.
                page.fill("#search", highlight)
                page.wait_for_function("document.getElementById('search-count').textContent !== ''")
                result["highlight_count"] = page.text_content("#search-count")
                result["highlighted"] = page.evaluate("ExplorerApp.state.matches.slice()")
                result["highlight_ringed"] = page.evaluate(
                    "ExplorerApp.state.matchSrc.data.x.length"
                )
                result["highlight_alpha"] = page.evaluate(
                    "ExplorerApp.state.rends.map(r => r.glyph.fill_alpha.value)"
                )

            # Search for the hostile name; Enter pins the first match.
            page.fill("#search", hostile_name)
            page.press("#search", "Enter")
            page.wait_for_timeout(150)
            result["search_count"] = page.text_content("#search-count")
            result["searched_pin"] = int(page.evaluate("document.body.dataset.pinned"))
            result["pinned_name"] = page.text_content("#pin .pin-name")
            result["pinned_cluster"] = page.text_content("#pin .chip")
            result["pinned_tags"] = page.eval_on_selector_all(
                "#pin .tagchip", "cs => cs.map(c => c.textContent)"
            )
            result["color_by"] = page.evaluate(
                """() => document.getElementById('color-by-box').hidden ? null
                  : [...document.querySelectorAll('#color-by option')].map(o => o.textContent)"""
            )
            page.fill("#search", "")
            page.press("#search", "Escape")

            result["injected"] = page.evaluate(
                "document.querySelectorAll('img[src=\"x\"], [onerror], [onload]').length"
            )
            if screenshot is not None:
                other = page.evaluate(
                    "p => ExplorerApp.data.nbr[p * ExplorerApp.data.k + 1] ?? 0",
                    result["searched_pin"],
                )
                ox, oy = page.evaluate("i => ExplorerApp.clientPos(i)", other)
                page.mouse.move(ox, oy, steps=3)
                page.wait_for_timeout(200)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return result


@pytest.fixture(scope="module")
def report_data() -> ReportData:
    _require_browser()
    from test_report import CLUSTER_NAMES, make_report_data

    return make_report_data(n_per_family=7, noise=10.0, use_umap=True, cluster_names=CLUSTER_NAMES)


@pytest.fixture(scope="module")
def report_path(report_data: ReportData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(report_data, tmp_path_factory.mktemp("browser") / "photos.html")


@pytest.fixture
def page(report_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            pg.set_default_timeout(15_000)
            errors: list[str] = []
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))

            def on_dialog(dialog: Any) -> None:
                errors.append("dialog: " + dialog.message)
                dialog.dismiss()

            pg.on("dialog", on_dialog)
            pg.goto(report_path.as_uri())
            pg.wait_for_function("document.body.dataset.ready === '1'")
            yield pg
            assert errors == []
        finally:
            browser.close()


def test_report_in_browser(report_data: ReportData, report_path: Path) -> None:
    from test_report import HOSTILE, HOSTILE_TAG

    r = check_report_in_browser(report_path, HOSTILE, screenshot=SCREENSHOT)
    n = len(report_data.paths)
    assert r["n"] == n
    assert r["dialogs"] == [] and r["console_errors"] == [] and r["page_errors"] == []
    assert r["injected"] == 0
    assert r["load_s"] < 3.0, f"report took {r['load_s']:.2f} s to become ready"
    assert r["hostile_index"] == 0
    # Hover: the hostile image's card, with its 5 neighbours, every image decoded.
    assert r["hovered"] == 0
    assert r["tooltip_name"] == HOSTILE
    assert len(r["tooltip_images"]) == 1 + 5 and all(w > 0 for w in r["tooltip_images"])
    # Click: pinned with its neighbours; clicking the first one moves the pin there.
    assert r["pinned"] == 0
    assert r["panel_neighbors"] == report_data.neighbors[0].tolist()
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
    pos = [page.evaluate("i => ExplorerApp.clientPos(i)", i) for i in range(n)]
    # a point with no other within 12 px, circled by an 8-sided lasso of radius 7 px
    lone = next(
        i
        for i, (x, y) in enumerate(pos)
        if all(j == i or abs(x - u) > 12 or abs(y - v) > 12 for j, (u, v) in enumerate(pos))
    )
    page.click(".bk-tool-icon-lasso-select")
    x, y = pos[lone]
    ring = [(x + 7 * np.cos(a), y + 7 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 9)]
    page.mouse.move(*ring[0])
    page.mouse.down()
    for px, py in ring[1:]:
        page.mouse.move(px, py, steps=3)
    page.mouse.up()
    page.wait_for_function("document.body.dataset.selected === '1'")
    items = page.locator("#selection .sel-item")
    assert items.count() == 1
    assert report_data.paths[lone].rsplit("/", 1)[-1] in (items.first.text_content() or "")
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
    page.wait_for_function(_IMAGES_LOADED, arg="#dup-list img")
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
    assert len(r["tooltip_images"]) == 6 and all(w > 0 for w in r["tooltip_images"])
    assert all(w > 0 for w in r["panel_images"])


def test_escape_unpins_after_clicking_the_map(page: Any) -> None:
    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", 3)
    page.mouse.click(x, y)
    page.wait_for_function("document.body.dataset.pinned !== undefined")
    page.keyboard.press("Escape")
    page.wait_for_function("document.body.dataset.pinned === undefined")
    assert "empty" in (page.get_attribute("#pin", "class") or "")


def _pixel(page: Any, i: int) -> tuple[int, int, int]:
    """The colour on screen at the centre of image ``i``'s point."""
    from PIL import Image

    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", i)
    png = page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 3, "height": 3})
    with Image.open(io.BytesIO(png)) as im:
        r, g, b = im.convert("RGB").getpixel((1, 1))
    return int(r), int(g), int(b)


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

    from explorer.report.figure import GREY

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
    assert not _is_grey(_pixel(page, other)) and not _is_tag_colour(_pixel(page, other))

    page.select_option("#color-by", value=str(names.index("warm")))
    page.wait_for_function("document.body.dataset.colorBy === 'tag'")
    now = page.evaluate(state)
    assert now["fills"] == [GREY] * len(clusters)
    assert now["tagged"] == len(warm)
    assert now["item"] == f"tag: warm ({len(warm)})"
    _wait_for_legend(page, [f"tag: warm ({len(warm)})", *legend])
    page.wait_for_timeout(100)
    assert _is_tag_colour(_pixel(page, warm[3])), _pixel(page, warm[3])
    assert _is_grey(_pixel(page, other)), _pixel(page, other)

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
    page.wait_for_function(_IMAGES_LOADED, arg="#tip img")
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
    exact = report_data.exact_duplicates or []
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
    ) == sorted((i for i in members if exact[i]), key=lambda i: i not in keepers)
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
        exact_duplicates=None,
        duplicate_keepers=None,
        duplicate_histogram=None,
        dup_threshold=None,
    )
    r = check_report_in_browser(write_report(plain, tmp_path / "plain.html"), HOSTILE)
    assert r["dialogs"] == [] and r["console_errors"] == [] and r["page_errors"] == []
    assert r["tooltip_name"] == HOSTILE and r["tooltip_tags"] == [] and r["pinned_tags"] == []
    assert r["color_by"] is None
