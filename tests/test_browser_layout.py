"""The report at the sizes people open it at, in headless Chromium (playwright).

Laptop (1440×900, 1280×720) and phone (390×844) layouts, the mouse wheel, the
selection (fade, grid, copy, CSV, tag command), tags added in the page and their
round trip through ``explorer tag --import``, thumbnails drawn on the map when
zoomed in, "Show only" and the save tool.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser

from explorer.report.render import ReportData, write_report

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "reports"

_GEOMETRY = """() => {
  const v = Bokeh.index.find_one(ExplorerApp.state.fig);
  const m = document.getElementById('map').getBoundingClientRect();
  const c = v.canvas_view.el.getBoundingClientRect();
  return {plot_width: v.frame.bbox.width, plot_height: v.frame.bbox.height,
          map_top: m.top, map_bottom: m.bottom, canvas_bottom: c.bottom,
          width: innerWidth, height: innerHeight, scroll: scrollY}; }"""


@pytest.fixture(scope="module")
def report_data() -> ReportData:
    _require_browser()
    from test_report import CLUSTER_NAMES, make_report_data

    return make_report_data(n_per_family=7, noise=10.0, use_umap=True, cluster_names=CLUSTER_NAMES)


@pytest.fixture(scope="module")
def report_path(report_data: ReportData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(report_data, tmp_path_factory.mktemp("layout") / "photos.html")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser: Any, html: Path, width: int, height: int, **kw: Any) -> tuple[Any, list[str]]:
    ctx = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True, **kw
    )
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    page.goto(html.resolve().as_uri())
    page.wait_for_function("document.body.dataset.ready === '1'")
    page.wait_for_timeout(150)  # the map's height settles (one layout pass)
    return page, errors


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1280, 720), (390, 844)])
def test_the_whole_map_fits_the_window(
    browser: Any, report_path: Path, width: int, height: int
) -> None:
    page, errors = _open(browser, report_path, width, height)
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
    SHOTS.mkdir(exist_ok=True)
    page.evaluate("ExplorerApp.pin(3)")
    page.wait_for_timeout(100)
    page.screenshot(path=str(SHOTS / f"screenshot-{width}x{height}.png"))
    assert errors == []
    page.context.close()


def test_wheel_scrolls_the_page_and_ctrl_wheel_zooms(browser: Any, report_path: Path) -> None:
    page, errors = _open(browser, report_path, 1280, 720)
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
    page, errors = _open(browser, report_path, 390, 844, has_touch=True, is_mobile=True)
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


def _alphas(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => ({clusters: ExplorerApp.state.rends.map(r => r.glyph.fill_alpha.value),
          tagged: ExplorerApp.state.tagSrc.data.x.length,
          tag_alpha: Array.from(ExplorerApp.state.tagSrc.data.a)})"""
    )


def test_selection_fades_everything_outside_it(
    browser: Any, report_path: Path, report_data: ReportData
) -> None:
    from test_browser import _pixel

    page, errors = _open(browser, report_path, 1440, 900)
    labels = report_data.labels.tolist()
    k = len(report_data.representatives)
    page.click("button.select-cluster[data-cluster='1']")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function(f"document.body.dataset.selected === '{labels.count(1)}'")
    a = _alphas(page)
    # the clusters the selection never touched fade like the unselected points
    assert [x for c, x in enumerate(a["clusters"]) if c != 1] == [0.08] * (k - 1)
    page.mouse.move(5, 5)
    page.wait_for_timeout(100)
    outside = _pixel(page, labels.index(0))
    assert min(outside) > 215, outside  # nearly the map's background
    # coloured by a tag: every tagged image stays drawn, those outside the selection faded
    tags = report_data.tags or []
    names = sorted({t for ts in tags for t in ts})
    warm = [i for i, ts in enumerate(tags) if "warm" in ts]
    page.select_option("#color-by", value=str(names.index("warm")))
    page.wait_for_function("document.body.dataset.colorBy === 'tag'")
    a = _alphas(page)
    assert a["tagged"] == len(warm)  # as many as the legend counts
    assert page.text_content("#legend-tag .legend-count") == f"({len(warm)})"
    want = sorted(1.0 if labels[i] == 1 else 0.08 for i in warm)
    assert sorted(a["tag_alpha"]) == want
    assert [x for c, x in enumerate(a["clusters"]) if c != 1] == [0.08] * (k - 1)
    page.click("#clear-selection")
    page.wait_for_function("document.body.dataset.selected === '0'")
    a = _alphas(page)
    assert a["tag_alpha"] == [1.0] * len(warm) and 0.08 not in a["clusters"]
    assert errors == []
    page.context.close()


def test_selection_grid_copy_paths_and_tag_command(
    browser: Any, report_path: Path, report_data: ReportData
) -> None:
    page, errors = _open(browser, report_path, 1280, 720)
    members = [i for i, c in enumerate(report_data.labels.tolist()) if c == 2]
    page.click("button.select-cluster[data-cluster='2']")
    page.wait_for_function(f"document.body.dataset.selected === '{len(members)}'")
    assert page.text_content("#selection .card-title") == f"Selection · {len(members)} images"
    grid = page.eval_on_selector_all(
        "#selection .sel-thumb", "bs => bs.map(b => Number(b.dataset.index))"
    )
    assert grid == members
    page.wait_for_function(
        "[...document.querySelectorAll('#selection .sel-thumb img')].every(i => i.naturalWidth > 0)"
    )
    # the selection's card and its buttons sit at the top of the side panel, in view
    page.evaluate("ExplorerApp.pin(0); window.scrollTo(0, 0)")
    dl = page.locator("#download-csv").bounding_box()
    assert dl["y"] + dl["height"] <= 720
    page.click("#copy-paths")
    page.wait_for_function("document.getElementById('sel-status').textContent !== ''")
    copied = page.evaluate("ExplorerApp.state.copied")
    assert copied.splitlines() == [report_data.paths[i] for i in members]
    page.fill("#tag-input", "it's mine")
    page.click("#copy-tag-cmd")
    assert page.evaluate("ExplorerApp.state.copied") == (
        "explorer tag --from selection.csv 'it'\\''s mine'"
    )
    page.fill("#tag-input", "")
    page.click("#copy-tag-cmd")
    assert page.evaluate("ExplorerApp.state.copied") == "explorer tag --from selection.csv NAME"
    page.click(f"#selection .sel-thumb[data-index='{members[1]}']")
    page.wait_for_function(f"document.body.dataset.pinned === '{members[1]}'")
    # a hostile tag typed in the page shows as text, in the card and the pinned panel
    from test_report import HOSTILE_TAG

    scripts = "document.querySelectorAll('script, [onerror], img[src=\"x\"]').length"
    before = page.evaluate(scripts)
    page.fill("#tag-input", HOSTILE_TAG)
    page.click("#tag-add")
    page.wait_for_selector("#pagetags:not([hidden])")
    assert f"{HOSTILE_TAG} · {len(members)}" in (page.text_content("#pagetags li") or "")
    assert page.text_content("#pin .page-added .tagchip") == HOSTILE_TAG
    assert page.evaluate(scripts) == before  # no element was made from it
    assert json.loads(page.evaluate("ExplorerApp.pageTagsJson()"))["tags"] == {
        report_data.paths[i]: [HOSTILE_TAG] for i in members
    }
    assert errors == []
    page.context.close()


def _pixel_at(page: Any, x: float, y: float) -> tuple[int, int, int]:
    from PIL import Image

    png = page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 3, "height": 3})
    with Image.open(io.BytesIO(png)) as im:
        r, g, b = im.convert("RGB").getpixel((1, 1))
    return int(r), int(g), int(b)


def test_zoomed_in_the_map_draws_thumbnails(browser: Any, report_path: Path) -> None:
    page, errors = _open(browser, report_path, 1440, 900)
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
    page, errors = _open(browser, report_path, 1280, 720)
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
    page, errors = _open(browser, report_path, 1440, 900)
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
    page, errors = _open(browser, report_path, 1280, 720)
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


def test_page_tags_round_trip_through_tag_import(
    browser: Any, families: Path, tmp_path: Path, fake_backbone: Any
) -> None:
    """Tag a cluster and a selection in the page, export, and merge with the CLI."""
    from typer.testing import CliRunner

    from explorer.cli.main import app
    from explorer.store.tags import load_tags

    index, html = tmp_path / "idx", tmp_path / "photos.html"
    runner = CliRunner()
    args = ["--index", str(index), "--out", str(html), "--backbone", "fake", "--weights", "w"]
    out = runner.invoke(app, ["build", str(families), *args])
    assert out.exit_code == 0, out.output
    page, errors = _open(browser, html, 1440, 900)
    data = page.evaluate("({paths: ExplorerApp.data.paths, labels: ExplorerApp.data.labels})")
    c0 = [p for p, c in zip(data["paths"], data["labels"], strict=True) if c == 0]
    page.click("button.select-cluster[data-cluster='0']")
    page.fill("#tag-input", "=sunset, 'best'")  # a formula-like, quoted tag
    page.click("#tag-add")
    page.wait_for_selector("#pagetags:not([hidden])")
    assert "=sunset, 'best' · " + str(len(c0)) in page.text_content("#pagetags")
    with page.expect_download() as info:
        page.click("#export-tags-json")
    exported = tmp_path / "explorer-tags.json"
    assert info.value.suggested_filename == exported.name
    info.value.save_as(exported)
    with page.expect_download() as info:
        page.click("#export-tags-csv")
    exported_csv = tmp_path / "explorer-tags.csv"
    info.value.save_as(exported_csv)
    with page.expect_download() as info:
        page.click("#download-csv")
    selection = tmp_path / "selection.csv"
    info.value.save_as(selection)
    # kept in the browser: a reload shows them again
    page.reload()
    page.wait_for_function("document.body.dataset.ready === '1'")
    assert page.locator("#pagetags").is_visible()
    assert errors == []
    page.context.close()

    assert json.loads(exported.read_text(encoding="utf-8"))["tags"] == {
        p: ["=sunset, 'best'"] for p in sorted(c0)
    }
    out = runner.invoke(app, ["tag", "--import", str(exported), "--index", str(index)])
    assert out.exit_code == 0, out.output
    assert f"{len(c0)} new tags on {len(c0)} images" in out.output
    assert load_tags(index) == {p: ["=sunset, 'best'"] for p in c0}
    # the CSV export says the same (its formula guard undone), so merging it adds nothing
    out = runner.invoke(app, ["tag", "--import", str(exported_csv), "--index", str(index)])
    assert out.exit_code == 0 and "0 new tags" in out.output, out.output
    # the selection CSV tags the same images with another name
    out = runner.invoke(app, ["tag", "--from", str(selection), "keep", "--index", str(index)])
    assert out.exit_code == 0, out.output
    assert load_tags(index) == {p: sorted(["=sunset, 'best'", "keep"]) for p in c0}


def test_phone_one_finger_scrolls_the_page_and_a_pinch_zooms_the_map(
    browser: Any, report_path: Path
) -> None:
    page, errors = _open(browser, report_path, 390, 844, has_touch=True, is_mobile=True)
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


def test_open_original_link_is_inert_for_hostile_names(
    browser: Any, report_data: ReportData, tmp_path: Path
) -> None:
    from dataclasses import replace
    from urllib.parse import unquote

    from test_report import HOSTILE

    root = tmp_path / "photos"
    paths = list(report_data.paths)
    paths[1] = "javascript:alert(document.domain)//x.jpg"
    paths[2] = 'a b/#?%2e%2e/..\\100% "q".jpg'
    paths[5] = "red/" + "holiday_photo_" * 5 + "03-crop.jpg"  # copies differ at the end
    sizes = [2_345_678 if i == 5 else 900 + i for i in range(len(paths))]
    data = replace(report_data, root=str(root), paths=paths, link_originals=True, file_sizes=sizes)
    html = write_report(data, tmp_path / "out" / "page.html")
    page, errors = _open(browser, html, 1440, 900)
    for i, want in ((0, "red/" + HOSTILE), (1, paths[1]), (2, paths[2])):
        page.evaluate(f"ExplorerApp.pin({i})")
        link = page.locator("#pin a.open-original")
        href = link.get_attribute("href") or ""
        assert href.startswith("../photos/"), href
        resolved = page.evaluate(
            "() => new URL(document.querySelector('#pin a.open-original').href).href"
        )
        assert resolved.startswith("file://")
        assert unquote(resolved.removeprefix("file://")) == f"{root}/{want}"
        assert not any(c in href for c in "<>\"' ")  # every segment percent-encoded
        assert "javascript:" not in href
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0

    # a long name is shortened in the middle, keeping its end; in full as the title
    page.evaluate("ExplorerApp.pin(5)")
    shown = page.text_content("#pin .pin-name") or ""
    full = paths[5].rsplit("/", 1)[1]
    assert len(shown) <= 64 and "…" in shown and shown.endswith("_03-crop.jpg")
    assert shown.startswith("holiday_photo_")
    assert page.get_attribute("#pin .pin-name", "title") == full
    assert (page.text_content("#pin .pin-capture") or "").endswith("2.3\u00a0MB")  # file size
    assert errors == []
    page.context.close()


def test_search_lists_its_matches_and_selects_them(
    browser: Any, report_path: Path, report_data: ReportData
) -> None:
    page, errors = _open(browser, report_path, 1280, 720)
    page.fill("#search", "red/")
    want = [i for i, p in enumerate(report_data.paths) if "red/" in p.lower()]
    page.wait_for_function(
        f"document.querySelectorAll('#matches .sel-thumb').length === {len(want)}"
    )
    shown = page.eval_on_selector_all(
        "#matches .sel-thumb", "bs => bs.map(b => Number(b.dataset.index))"
    )
    assert shown == want
    assert page.locator("#matches").bounding_box()["y"] < 720  # in view beside the map
    page.click(f"#matches .sel-thumb[data-index='{want[2]}']")
    page.wait_for_function(f"document.body.dataset.pinned === '{want[2]}'")
    page.click("#select-matches")
    page.wait_for_function(f"document.body.dataset.selected === '{len(want)}'")
    assert page.evaluate("ExplorerApp.state.selected") == want
    page.fill("#search", "")
    page.wait_for_selector("#matches", state="hidden")
    assert errors == []
    page.context.close()


def test_cluster_cards_say_cluster_n_first_and_the_guess_second(
    browser: Any, report_data: ReportData, tmp_path: Path
) -> None:
    from dataclasses import replace

    from test_report import HOSTILE_CLUSTER

    k = len(report_data.representatives)
    guesses = [[(HOSTILE_CLUSTER, 0.314), ("tabby", 0.2)]] + [[] for _ in range(k - 1)]
    html = write_report(replace(report_data, cluster_guesses=guesses), tmp_path / "g.html")
    page, errors = _open(browser, html, 1440, 900)
    titles = page.eval_on_selector_all(
        "#gallery-grid .cluster h3", "hs => hs.map(h => h.textContent)"
    )
    assert titles == [f"Cluster {c}" for c in range(k)]
    sizes = page.eval_on_selector_all(
        "#gallery-grid .cluster-title .muted", "ss => ss.map(s => s.textContent)"
    )
    counts = [int((report_data.labels == c).sum()) for c in range(k)]
    assert sizes == [f"{n} images" for n in counts]
    guess = page.text_content("#gallery-grid .cluster >> nth=0 >> .guess")
    assert guess == f"ImageNet guess: {HOSTILE_CLUSTER}\u00a031\u00a0% · tabby\u00a020\u00a0%"
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0
    assert errors == []
    page.context.close()


def test_pinned_panel_back_forward_and_no_upscaling(browser: Any, report_path: Path) -> None:
    page, errors = _open(browser, report_path, 1440, 900)
    for i in (3, 7, 11):
        page.evaluate(f"ExplorerApp.pin({i})")
    assert page.is_disabled("#pin-forward") and not page.is_disabled("#pin-back")
    page.click("#pin-back")
    page.wait_for_function("document.body.dataset.pinned === '7'")
    page.click("#pin-back")
    page.wait_for_function("document.body.dataset.pinned === '3'")
    assert page.is_disabled("#pin-back")
    page.click("#pin-forward")
    page.wait_for_function("document.body.dataset.pinned === '7'")
    page.wait_for_function("document.querySelector('#pin .pin-img').naturalWidth > 0")
    img = page.evaluate(
        """() => { const i = document.querySelector('#pin .pin-img');
          return [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]; }"""
    )
    assert img[2] <= img[0] and img[3] <= img[1]  # shown at most at its own size
    assert errors == []
    page.context.close()


def test_pinned_duplicate_group_links_to_its_card_on_a_later_page(
    browser: Any, report_data: ReportData, tmp_path: Path
) -> None:
    from dataclasses import replace

    from explorer.analysis.duplicates import DuplicateGroup

    groups = [DuplicateGroup([2 * g, 2 * g + 1], [(2 * g, 2 * g + 1, 0.9)]) for g in range(14)]
    data = replace(
        report_data,
        duplicate_groups=groups,
        duplicate_keepers=[g.members[0] for g in groups],
        duplicate_reasons=None,
    )
    html = write_report(data, tmp_path / "dups.html")
    page, errors = _open(browser, html, 1280, 720)
    assert page.locator("#dup-list .dup").count() == 12  # the first page only
    page.evaluate("ExplorerApp.pin(27)")  # in group 14, on the second page
    page.click("#pin button.dup-link")
    page.wait_for_selector("#dup-list .dup[data-group='13']")
    page.wait_for_timeout(100)
    box = page.locator("#dup-list .dup[data-group='13']").bounding_box()
    assert 0 <= box["y"] < 720
    assert page.text_content("#dup-list .dup[data-group='13'] h3") == "Group 14"
    assert errors == []
    page.context.close()
