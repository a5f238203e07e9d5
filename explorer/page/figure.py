"""The map of the report as a Bokeh document, and the colours of its clusters.

Bokeh draws the points and handles pan, zoom and box / lasso selection; the
page script (the ``static/*.js`` files of ``assets.SCRIPT_FILES``) does everything
else through the hooks bound here (``window.ExplorerApp``). Bokeh is imported
inside the function.
"""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

from explorer.page.data import ReportData

WEBGL_MIN_POINTS = 2000
"""From this many images the map is drawn with WebGL."""

MAP_THUMB_PX = 44
"""Side of the thumbnails drawn on the map when zoomed in, in screen pixels."""

# no grey in the palette: grey means untagged or faded in the page
_PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#1f3f8f", "#c2410c", "#0f766e", "#a16207", "#be185d", "#4d7c0f",
    "#6d28d9", "#0e7490", "#b91c1c", "#57534e",
)  # fmt: skip
TAG_COLOR = "#4f46e5"
"""Colour of the tagged images when the map is coloured by a tag (the others turn grey)."""

GREY = "#cbd5e1"
"""Colour of the untagged images when the map is coloured by a tag."""


def cluster_colors(k: int) -> list[str]:
    """One colour per cluster: the palette, or evenly spread hues beyond its size."""
    if k <= len(_PALETTE):
        return list(_PALETTE[:k])
    out = []
    for c in range(k):
        r, g, b = colorsys.hls_to_rgb((c * 0.618033988749895) % 1.0, 0.45, 0.65)
        out.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return out


def map_document(
    data: ReportData, k: int, colors: list[str], *, point_size: float, alpha: float
) -> Any:
    """The Bokeh document of the map: one scatter renderer per cluster, and the overlays.

    The overlays (hover, pin, neighbours, search matches, the link to a pinned
    neighbour, the tagged images and the zoomed-in thumbnails) start empty: the
    page script fills them. Tooltips are not Bokeh's: no Bokeh model here ever
    holds file-derived text.

    Args:
        data: What the report shows (validated).
        k: The number of clusters.
        colors: One colour per cluster (:func:`cluster_colors`).
        point_size: Diameter of a point, in screen pixels.
        alpha: Opacity of the points.

    Returns:
        A ``bokeh.document.Document`` whose one root is the figure named ``map``.
    """
    from bokeh.document import Document
    from bokeh.models import (
        BoxSelectTool,
        ColumnDataSource,
        CustomJS,
        DataRange1d,
        LassoSelectTool,
        PanTool,
        ResetTool,
        SaveTool,
        WheelZoomTool,
    )
    from bokeh.plotting import figure

    n = len(data.paths)
    x_range = DataRange1d(range_padding=0.06)
    y_range = DataRange1d(range_padding=0.06)
    coords = np.asarray(data.coords, dtype=np.float32)
    labels = np.asarray(data.labels)
    fig = figure(
        name="map",
        sizing_mode="stretch_both",
        tools=[],
        toolbar_location="right",
        x_range=x_range,
        y_range=y_range,
        output_backend="webgl" if n >= WEBGL_MIN_POINTS else "canvas",
        match_aspect=True,
        min_border=8,
        background_fill_color="#fbfcfe",
        border_fill_color="#ffffff",
        outline_line_color=None,
    )
    fig.axis.visible = False
    fig.grid.visible = False
    fig.toolbar.logo = None
    outline = "#ffffff" if n <= 2000 else None
    rends: list[Any] = []
    srcs: list[Any] = []
    for c in range(k):
        idx = np.flatnonzero(labels == c).astype(np.int32)
        src = ColumnDataSource(data={"x": coords[idx, 0], "y": coords[idx, 1], "i": idx})
        r = fig.scatter(
            "x", "y", source=src, size=point_size, fill_color=colors[c], fill_alpha=alpha,
            line_color=outline, line_alpha=alpha, line_width=0.6,
            nonselection_fill_alpha=0.08, nonselection_line_alpha=0.08,
            selection_fill_alpha=1.0, selection_line_color="#0f172a",
        )  # fmt: skip
        rends.append(r)
        srcs.append(src)
    x_range.renderers = y_range.renderers = rends
    # Colour by tag: the clusters turn grey and the tagged images are drawn on top.
    # (per-point alpha "a": tagged images outside a selection fade with the rest)
    tag_src = ColumnDataSource(data={"x": [], "y": [], "a": []})
    tag_rend: Any = fig.scatter(
        "x", "y", source=tag_src, size=point_size + 1, fill_color=TAG_COLOR, fill_alpha="a",
        line_color="#ffffff", line_alpha="a", line_width=0.8,
    )  # fmt: skip

    # Zoomed in to a few hundred points, the page draws their thumbnails at their points
    # (the same data: URIs or sidecar paths as everywhere else: nothing added to the file).
    thumb_src = ColumnDataSource(data={"url": [], "x": [], "y": []})
    fig.image_url(
        url="url", x="x", y="y", w=MAP_THUMB_PX, h=MAP_THUMB_PX, w_units="screen",
        h_units="screen", anchor="center", source=thumb_src,
    )  # fmt: skip

    def overlay(**kw: Any) -> Any:
        src = ColumnDataSource(data={"x": [], "y": []})
        fig.scatter("x", "y", source=src, fill_alpha=0.0, level="overlay", **kw)
        return src

    link = ColumnDataSource(data={"x0": [], "y0": [], "x1": [], "y1": []})
    fig.segment(
        "x0", "y0", "x1", "y1", source=link, line_color="#0f172a", line_alpha=0.55,
        line_width=1.5, line_dash="dashed", level="overlay",
    )  # fmt: skip
    match = overlay(size=point_size + 8, line_color="#f59e0b", line_width=2.5)
    nb = overlay(size=point_size + 8, line_color="#0f172a", line_width=2)
    hov = overlay(size=point_size + 10, line_color="#0f172a", line_width=2.5)
    pin = overlay(size=point_size + 16, line_color="#e11d48", line_width=3.5)

    # The wheel scrolls the page; it zooms only with Ctrl held (a trackpad pinch sends
    # Ctrl + wheel). The legend is an HTML list beside the map (static/map.js), so
    # the plot keeps its width on a phone and a saved PNG holds only the points.
    pan, wheel = PanTool(), WheelZoomTool(modifiers="ctrl")
    fig.add_tools(
        pan, wheel, BoxSelectTool(renderers=rends), LassoSelectTool(renderers=rends),
        ResetTool(), SaveTool(filename="explorer-map"),
    )  # fmt: skip
    fig.toolbar.active_drag = pan
    fig.toolbar.active_scroll = wheel

    app = "window.ExplorerApp && window.ExplorerApp."
    fig.js_on_event("mousemove", CustomJS(code=app + "onMove(cb_obj)"))
    fig.js_on_event("mouseleave", CustomJS(code=app + "onLeave()"))
    fig.js_on_event("tap", CustomJS(code=app + "onTap(cb_obj)"))
    on_select = CustomJS(code=app + "onSelect()")
    on_visible = CustomJS(code=app + "onVisibility()")
    for r, src in zip(rends, srcs, strict=True):
        src.selected.js_on_change("indices", on_select)
        r.js_on_change("visible", on_visible)
    doc = Document()
    doc.add_root(fig)
    args = {"fig": fig, "rends": rends, "srcs": srcs, "hov": hov, "pin": pin, "nb": nb,
            "link": link, "match": match, "tag_rend": tag_rend,
            "tag_src": tag_src, "thumbs": thumb_src}  # fmt: skip
    doc.js_on_event(
        "document_ready",
        CustomJS(args=args, code="window.ExplorerApp.init({" + ", ".join(args) + "});"),
    )
    return doc
