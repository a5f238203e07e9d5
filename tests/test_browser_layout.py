"""The report at the sizes people open it at, in headless Chromium (playwright).

Laptop (1440×900, 1280×720) and phone (390×844) layouts, the mouse wheel and
touch, thumbnails drawn on the map when zoomed in, "Show only", the section
navigation and the save tool.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from browser_harness import REPO, open_page

from explorer.page.data import ReportData

pytestmark = pytest.mark.slow

SHOTS = REPO / "reports"

_GEOMETRY = """() => {
  const v = Bokeh.index.find_one(ExplorerApp.state.fig);
  const m = document.getElementById('map').getBoundingClientRect();
  const c = v.canvas_view.el.getBoundingClientRect();
  return {plot_width: v.frame.bbox.width, plot_height: v.frame.bbox.height,
          map_top: m.top, map_bottom: m.bottom, canvas_bottom: c.bottom,
          width: innerWidth, height: innerHeight, scroll: scrollY}; }"""


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1280, 720), (390, 844)])
def test_the_whole_map_fits_the_window(
    browser: Any, report_path: Path, width: int, height: int
) -> None:
    page, errors = open_page(browser, report_path, width, height)
    g = page.evaluate(_GEOMETRY)
    assert g["scroll"] == 0
    assert g["plot_width"] >= 300, g
    assert g["plot_height"] >= 280, g
    assert g["map_bottom"] <= height and g["canvas_bottom"] <= height, g
    # the legend is an HTML list: beside the map on a laptop, below it on a phone
    legend = page.locator("#legend").bounding_box()
    mapbox = page.locator("#map").bounding_box()
    if width >= 1000:
        assert legend["x"] >= mapbox["x"] + mapbox["width"] - 1
    else:
        assert legend["y"] >= mapbox["y"] + mapbox["height"] - 1
    # cluster 0 opens the list, in its first cell (the hidden tag entry takes none)
    first = page.locator("#legend button[data-cluster='0']").bounding_box()
    assert abs(first["x"] - legend["x"]) <= 2 and abs(first["y"] - legend["y"]) <= 2, (
        first,
        legend,
    )
    SHOTS.mkdir(exist_ok=True)
    page.evaluate("ExplorerApp.pin(3)")
    page.wait_for_timeout(100)
    page.screenshot(path=str(SHOTS / f"screenshot-{width}x{height}.png"))
    assert errors == []
    page.context.close()


def test_wheel_scrolls_the_page_and_ctrl_wheel_zooms(browser: Any, report_path: Path) -> None:
    page, errors = open_page(browser, report_path, 1280, 720)
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 3, box["y"] + box["height"] / 2
    ranges = "() => { const f = ExplorerApp.state.fig; return [f.x_range.start, f.x_range.end]; }"
    before = page.evaluate(ranges)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, 400)
    page.wait_for_function("scrollY > 100")
    assert page.evaluate(ranges) == before  # the map did not zoom
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("scrollY === 0")
    page.mouse.move(cx, cy)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    page.wait_for_function(
        f"(({ranges})())[1] - (({ranges})())[0] < {before[1] - before[0]} * 0.95"
    )
    assert page.evaluate("scrollY") == 0
    assert errors == []
    page.context.close()


def test_phone_tap_opens_the_pinned_image_in_view(browser: Any, report_path: Path) -> None:
    page, errors = open_page(browser, report_path, 390, 844, has_touch=True, is_mobile=True)
    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", 5)
    page.touchscreen.tap(x, y)
    page.wait_for_function("document.body.dataset.pinned !== undefined")
    sheet = page.locator("#pin").bounding_box()
    assert sheet["y"] < 844 and sheet["y"] + sheet["height"] <= 844 + 1
    assert sheet["y"] > 844 * 0.45  # a bottom sheet: the map above it stays visible
    assert page.locator("#pin .pin-name").is_visible()
    # scrolled down to the gallery, the sheet is still in view
    page.evaluate("document.getElementById('gallery').scrollIntoView()")
    page.wait_for_timeout(100)
    assert page.locator("#pin .pin-name").is_visible()
    assert page.locator("#pin").bounding_box()["y"] < 844
    page.click("#pin-close")
    page.wait_for_function("document.body.dataset.pinned === undefined")
    assert errors == []
    page.context.close()


def _pixel_at(page: Any, x: float, y: float) -> tuple[int, int, int]:
    from PIL import Image

    png = page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 3, "height": 3})
    with Image.open(io.BytesIO(png)) as im:
        r, g, b = im.convert("RGB").getpixel((1, 1))
    return int(r), int(g), int(b)


def test_zoomed_in_the_map_draws_thumbnails(browser: Any, report_path: Path) -> None:
    page, errors = open_page(browser, report_path, 1440, 900)
    assert page.evaluate("document.body.dataset.mapThumbs || '0'") == "0"  # zoomed out: points
    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", 4)
    page.mouse.move(x, y)
    page.keyboard.down("Control")
    for _ in range(6):
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(60)
    page.keyboard.up("Control")
    page.wait_for_function("Number(document.body.dataset.mapThumbs) > 0")
    state = page.evaluate(
        """() => { const S = ExplorerApp.state, f = S.fig, D = ExplorerApp.data;
          const inside = [];
          for (let i = 0; i < D.paths.length; i++) {
            const [x, y] = [S.srcs[D.labels[i]].data.x[S.members[D.labels[i]].indexOf(i)],
                            S.srcs[D.labels[i]].data.y[S.members[D.labels[i]].indexOf(i)]];
            if (x >= f.x_range.start && x <= f.x_range.end && y >= f.y_range.start
                && y <= f.y_range.end) { inside.push(i); } }
          return {inside: inside, urls: S.thumbSrc.data.url.slice(), on: S.onMap.slice(),
                  thumbs: D.thumbs}; }"""
    )
    assert sorted(state["on"]) == state["inside"] and 0 < len(state["on"]) < 29
    assert state["urls"] == [state["thumbs"][i] for i in state["on"]]
    assert all(u.startswith("data:image/") for u in state["urls"])
    # drawn: 15 px right of a point (beyond its dot) the image shows, not the background
    page.mouse.move(5, 5)
    page.wait_for_timeout(300)
    colours = []
    for i in state["on"]:
        px, py = page.evaluate("i => ExplorerApp.clientPos(i)", i)
        if 0 < px + 15 < 1440 and 0 < py < 900:
            colours.append(_pixel_at(page, px + 15, py))
    assert colours and any(min(c) < 200 for c in colours), colours
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "screenshot-zoomed.png"))
    page.click(".bk-tool-icon-reset")
    page.wait_for_function("document.body.dataset.mapThumbs === '0'")
    assert errors == []
    page.context.close()


def test_show_only_scrolls_the_map_into_view_and_zooms(
    browser: Any, report_path: Path, report_data: ReportData
) -> None:
    page, errors = open_page(browser, report_path, 1280, 720)
    page.evaluate("document.getElementById('gallery').scrollIntoView()")
    span = "() => ExplorerApp.state.fig.x_range.end - ExplorerApp.state.fig.x_range.start"
    full = page.evaluate(span)
    page.click("button.solo[data-cluster='0']")
    page.wait_for_function("ExplorerApp.state.rends.filter(r => r.visible).length === 1")
    page.wait_for_timeout(100)
    card = page.locator("#map-card").bounding_box()
    assert 0 <= card["y"] < 720 / 3  # the map is on screen again
    assert page.evaluate(span) < full * 0.9  # and zoomed to the cluster
    for i in (i for i, c in enumerate(report_data.labels.tolist()) if c == 0):
        x, y = page.evaluate("i => ExplorerApp.clientPos(i)", i)
        assert card["x"] <= x <= card["x"] + card["width"] and 0 <= y <= 720
    page.click("button.solo[data-cluster='0']")
    page.wait_for_function("ExplorerApp.state.rends.every(r => r.visible)")
    assert errors == []
    page.context.close()


def test_save_tool_downloads_a_png_without_a_prompt(browser: Any, report_path: Path) -> None:
    page, errors = open_page(browser, report_path, 1440, 900)
    with page.expect_download() as info:
        page.click(".bk-tool-icon-save")
    assert info.value.suggested_filename == "explorer-map.png"
    assert errors == []  # no prompt ("bokeh_plot") opened
    # the legend is HTML beside the plot, so the PNG holds no "click to hide"
    legends = page.evaluate(
        """() => { const f = ExplorerApp.state.fig;
          return [...f.center, ...f.right, ...f.left, ...f.above, ...f.below]
            .filter(m => m.type === 'Legend').length; }"""
    )
    assert legends == 0
    page.context.close()


def test_section_nav_is_sticky(browser: Any, report_path: Path) -> None:
    page, errors = open_page(browser, report_path, 1280, 720)
    links = page.eval_on_selector_all("#secnav a:visible", "as => as.map(a => a.textContent)")
    assert links == ["Map", "Clusters", "Duplicates", "Threshold"]
    page.click("#secnav a[href='#duplicates']")
    page.wait_for_function("scrollY > 300")
    nav = page.locator("#secnav").bounding_box()
    assert nav["y"] == 0
    head = page.locator("#duplicates h2").bounding_box()
    assert nav["height"] <= head["y"] < 720
    assert errors == []
    page.context.close()


def test_phone_one_finger_scrolls_the_page_and_a_pinch_zooms_the_map(
    browser: Any, report_path: Path
) -> None:
    page, errors = open_page(browser, report_path, 390, 844, has_touch=True, is_mobile=True)
    ranges = "() => { const f = ExplorerApp.state.fig; return [f.x_range.start, f.x_range.end]; }"
    before = page.evaluate(ranges)
    box = page.locator("#map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.7
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 11):  # one finger drags up over the map
        point = {"x": x, "y": y - 25 * step}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        page.wait_for_timeout(16)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_function("scrollY > 100")
    assert page.evaluate(ranges) == before  # the map did not pan
    touch_action = page.evaluate(
        """() => getComputedStyle(Bokeh.index.find_one(ExplorerApp.state.fig).canvas_view.el
          .shadowRoot.querySelector('.bk-events')).touchAction"""
    )
    assert touch_action == "pan-x pan-y"  # the browser scrolls; a pinch still goes to the map
    # two fingers pinching outwards zoom the map in, and the page does not move
    page.wait_for_timeout(800)  # the fling of the scroll above ends
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("scrollY === 0")
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def fingers(d: float) -> list[dict[str, float]]:
        return [{"x": cx - d, "y": cy, "id": 1}, {"x": cx + d, "y": cy, "id": 2}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers(20)})
    for step in range(1, 12):
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": fingers(20 + 8 * step)}
        )
        page.wait_for_timeout(16)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    after = page.evaluate(ranges)
    assert after[1] - after[0] < (before[1] - before[0]) * 0.8, (before, after)
    assert page.evaluate("scrollY") == 0
    assert errors == []
    page.context.close()
