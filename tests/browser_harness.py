"""Shared helpers of the real-browser tests of the report (headless Chromium via playwright).

``check_report_in_browser`` is reusable on any report (for example one written by
the real pipeline): it hovers, clicks, follows a neighbour, searches for the
hostile file name and records what a user would see, and the tests assert on it.
``browser_page`` and ``open_page`` open a report and collect the page's errors.
Not a test module: the ``test_browser*.py`` files and ``test_explore.py`` import it.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorer.page.data import ReportData

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
VIEWPORT = {"width": 1440, "height": 900}

IMAGES_LOADED = """sel => {
  const imgs = [...document.querySelectorAll(sel)];
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


MAP_STATE = """() => {
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


def require_browser() -> None:
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
            result.update(page.evaluate(MAP_STATE))
            hostile = page.evaluate("n => ExplorerApp.data.names.indexOf(n)", hostile_name)
            result["hostile_index"] = None if hostile < 0 else hostile
            target = max(hostile, 0)

            # Hover: the card shows the image, its name and its neighbours, all loaded.
            x, y = page.evaluate("i => ExplorerApp.clientPos(i)", target)
            page.mouse.move(x - 30, y - 30)
            page.mouse.move(x, y, steps=4)
            page.wait_for_selector("#tip:not([hidden])")
            page.wait_for_function(IMAGES_LOADED, arg="#tip img")
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
            page.wait_for_function(IMAGES_LOADED, arg="#pin img")
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


def folded_neighbors(data: ReportData, i: int) -> list[int]:
    """Image ``i``'s neighbours as the page lists them: byte-identical copies once, the first."""
    copy_set = {j: k for k, s in enumerate(data.exact_copies or []) for j in s}
    seen: set[tuple[str, int]] = set()
    out = []
    for j in np.asarray(data.neighbors)[i].tolist():
        key = ("copies", copy_set[j]) if j in copy_set else ("image", j)
        if j >= 0 and key not in seen:
            seen.add(key)
            out.append(j)
    return out


def sample_data() -> ReportData:
    """The report most browser tests open: 28 images and a copy, UMAP map, hostile names."""
    require_browser()
    from test_report import CLUSTER_NAMES, make_report_data

    return make_report_data(n_per_family=7, noise=10.0, use_umap=True, cluster_names=CLUSTER_NAMES)


@contextmanager
def browser_page(html_path: Path, *, viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A page showing the report, ready; on leaving, asserts it logged no error or dialog."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport=viewport or VIEWPORT)  # type: ignore[arg-type]
            pg.set_default_timeout(15_000)
            errors: list[str] = []
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))

            def on_dialog(dialog: Any) -> None:
                errors.append("dialog: " + dialog.message)
                dialog.dismiss()

            pg.on("dialog", on_dialog)
            pg.goto(Path(html_path).resolve().as_uri())
            pg.wait_for_function("document.body.dataset.ready === '1'")
            yield pg
            assert errors == []
        finally:
            browser.close()


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium, closed on leaving (for tests that open several pages)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(
    browser: Any, html: Path, width: int, height: int, **kw: Any
) -> tuple[Any, list[str]]:
    """A page of ``html`` in a new context of ``browser``, ready, and the errors it logs."""
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


def pixel(page: Any, i: int) -> tuple[int, int, int]:
    """The colour on screen at the centre of image ``i``'s point."""
    from PIL import Image

    x, y = page.evaluate("i => ExplorerApp.clientPos(i)", i)
    png = page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 3, "height": 3})
    with Image.open(io.BytesIO(png)) as im:
        r, g, b = im.convert("RGB").getpixel((1, 1))
    return int(r), int(g), int(b)
