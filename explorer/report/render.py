"""The standalone HTML report: presents the analysis, computes nothing.

One ``.html`` file that works offline from ``file://``: Bokeh's JavaScript is
inlined and the thumbnails are embedded as ``data:`` URIs. Above ``embed_limit``
images the thumbnails go to a sidecar folder ``<stem>_files/`` next to the page
instead (see ``docs/report.md`` for the threshold and why).

Security: file names are hostile input. They reach the page only as JSON inside
``<script type="application/json">`` (with ``<``, ``>`` and ``&`` escaped) and the
page script shows them with ``textContent``; the static header is escaped with
:func:`html.escape`. No Bokeh tooltip template or ``Div`` ever holds file-derived
text, and ``src`` attributes only ever receive ``data:`` URIs built here or
sidecar paths generated here. Bokeh is imported inside the functions that use it.
"""

from __future__ import annotations

import colorsys
import html
import itertools
import json
import logging
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from numpy.typing import NDArray

from explorer import __version__
from explorer.analysis.duplicates import DuplicateGroup
from explorer.progress import Progress, no_progress
from explorer.report.assets import (
    APP_JS,
    CSS,
    SIDECAR_MARKER,
    TEMPLATE,
    data_uri,
    fit_budget,
    write_sidecar,
)
from explorer.store.folder import write_output_bytes

log = logging.getLogger(__name__)

EMBED_LIMIT = 10_000
"""Most images whose thumbnails are embedded in the page; above it they go to a sidecar folder."""

BYTES_PER_IMAGE = 4096
"""Target average size of the page per image (thumbnail as base64 plus its data)."""

WEBGL_MIN_POINTS = 2000
"""From this many images the map is drawn with WebGL."""

MAP_THUMB_PX = 44
"""Side of the thumbnails drawn on the map when zoomed in, in screen pixels."""

DUP_GROUPS_PAGE = 12
"""Duplicate groups drawn at a time; a button shows the next page."""

DUP_GROUPS_SHOWN = 200
"""Most near-duplicate groups listed in the page (the rest are counted)."""

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

_SURROGATES = re.compile("[\ud800-\udfff]")

"""``progress(label, total) -> advance(n)``, the hook of :mod:`explorer.jobs.build`."""


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows; all arrays are indexed by image.

    Attributes:
        title: Page title, e.g. the folder name (escaped when shown).
        root: The indexed folder as text (escaped when shown).
        paths: Root-relative paths to show; may hold any characters, including
            lone surrogates from non-UTF-8 names (shown as U+FFFD).
        thumbnails: One encoded thumbnail per image (WebP, JPEG or PNG bytes,
            longest side 160 px, EXIF-rotated and stripped).
        coords: ``(n, 2)`` map coordinates.
        labels: ``(n,)`` cluster of each image, ``0 .. k-1``.
        neighbors: ``(n, k)`` top-k neighbour indices, best first (negative = none).
        neighbor_scores: ``(n, k)`` cosine similarities of those neighbours.
        representatives: Per cluster, the images nearest its centre.
        duplicate_groups: Near-duplicate groups, largest first.
        cluster_names: Optional display name per cluster, e.g. "tabby / tiger cat"
            (untrusted text: escaped when shown).
        summary: Extra facts for the header, e.g. ``{"Backbone": "VGG16 fc2"}``.
        tags: Optional per image, the tags people gave it (untrusted text).
        exact_duplicates: Optional per image, whether it is byte-identical to
            another indexed image.
        duplicate_keepers: Optional per duplicate group (same order as
            ``duplicate_groups``), the image suggested to keep; one of its members.
        duplicate_histogram: Optional ``(threshold, pairs)`` with the number of
            neighbour pairs whose cosine is at or above each threshold,
            thresholds ascending (e.g. 0.50 .. 1.00).
        dup_threshold: The near-duplicate threshold in use (marked on the histogram).
        duplicate_examples: Optional ``(above, below)`` example pairs
            ``(i, j, cosine)`` just above and just below ``dup_threshold``,
            shown under the histogram so the cut can be judged by eye.
        captions: Optional per image, one line on when and with what it was
            taken (``explorer.inputs.capture.describe``; untrusted text), shown in the
            pinned panel. Never a location.
        cluster_guesses: Optional per cluster, the ImageNet classes that dominate
            it with their share of its class mass, best first (``[("tabby", 0.31),
            ...]``), shown as a secondary guess under "Cluster N".
        file_sizes: Optional per image, the file's size in bytes (pinned panel).
        link_originals: Whether the pinned panel links to the original files, by a
            relative ``file:`` URL from the page's folder to ``root`` (an absolute
            folder) and the image's path, every segment percent-encoded.
        facets: Optional groupings the map can be coloured by, e.g.
            ``{"Year taken": ["2019", None, ...], "Camera": [...]}``: per facet,
            one value per image (``None``: none); untrusted text.
        duplicate_reasons: Optional per duplicate group, why its keeper was
            chosen (e.g. ``"4032×3024, sharpest"``).
        image_details: Optional per image, what decides a keeper (e.g.
            folder, ``4032×3024 · 2.1 MB`` and date, one a line); shown in duplicate cards.
    """

    title: str
    root: str
    paths: list[str]
    thumbnails: list[bytes]
    coords: NDArray[np.float32]
    labels: NDArray[np.int32]
    neighbors: NDArray[np.int32]
    neighbor_scores: NDArray[np.float32]
    representatives: list[list[int]]
    duplicate_groups: list[DuplicateGroup]
    cluster_names: list[str] | None = None
    summary: dict[str, str] = field(default_factory=dict)
    tags: list[list[str]] | None = None
    exact_duplicates: list[bool] | None = None
    duplicate_keepers: list[int] | None = None
    duplicate_histogram: list[tuple[float, int]] | None = None
    dup_threshold: float | None = None
    duplicate_examples: tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]] | None = (
        None
    )
    captions: list[str] | None = None
    facets: dict[str, list[str | None]] | None = None
    duplicate_reasons: list[str] | None = None
    image_details: list[str] | None = None
    link_originals: bool = False
    file_sizes: list[int] | None = None
    cluster_guesses: list[list[tuple[str, float]]] | None = None


def write_report(
    data: ReportData,
    out: Path,
    *,
    embed_limit: int = EMBED_LIMIT,
    progress: Progress | None = None,
) -> Path:
    """Write the report as one standalone HTML page, atomically.

    Args:
        data: What to show.
        out: Path of the ``.html`` file; its folder is created if needed.
        embed_limit: Most images whose thumbnails are embedded as ``data:`` URIs
            (>= 0). Above it they are written to ``<stem>_files/`` next to the
            page and referenced relatively, so the page stays small enough to
            open quickly; move the page and the folder together.
        progress: Progress hook; two bars: ``thumbnails`` (sized for the page,
            or written to the sidecar folder) and ``report page`` (one step:
            Bokeh renders the page in one call).

    Returns:
        The path of the written page.

    Raises:
        ValueError: If ``embed_limit`` is negative or ``data`` is inconsistent.
        ExplorerError: If the sidecar folder exists and was not written by explorer.
    """
    if embed_limit < 0:
        raise ValueError(f"embed_limit must be >= 0, got {embed_limit}")
    n_clusters = _validate(data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = len(data.paths)
    bar = progress or no_progress
    sidecar = out.parent / f"{out.stem}_files"
    advance = bar("thumbnails", n)
    if out.exists() and not out.is_file():
        embed_limit = n  # /dev/stdout or a pipe: no folder beside it, everything embedded
    if n > embed_limit:
        log.info("%d images > embed_limit %d: thumbnails go to %s", n, embed_limit, sidecar)
        thumbs = write_sidecar(data.thumbnails, sidecar, progress=advance)
    else:
        thumbs = [data_uri(t) for t in fit_budget(data.thumbnails, progress=advance)]
    step = bar("report page", 1)
    page = _render(data, thumbs, n_clusters, originals=_originals_href(data, out))
    write_output_bytes(out, page.encode("utf-8"))
    if n <= embed_limit and (sidecar / SIDECAR_MARKER).is_file():
        shutil.rmtree(sidecar, ignore_errors=True)  # stale thumbnails of an earlier run
    step(1)
    log.info("wrote report %s (%.1f MB)", out, len(page) / 1e6)
    return out


def _validate(data: ReportData) -> int:
    n = len(data.paths)
    if n == 0:
        raise ValueError("data.paths is empty: a report needs at least one image")
    labels = np.asarray(data.labels)
    checks = {
        "thumbnails": len(data.thumbnails) == n,
        "coords": np.shape(data.coords) == (n, 2),
        "labels": labels.shape == (n,),
        "neighbors": np.ndim(data.neighbors) == 2 and np.shape(data.neighbors)[0] == n,
        "neighbor_scores": np.shape(data.neighbor_scores) == np.shape(data.neighbors),
    }
    for name, ok in checks.items():
        if not ok:
            raise ValueError(f"data.{name} does not match the {n} paths")
    if labels.min() < 0:
        raise ValueError("data.labels must be >= 0")
    nbrs = np.asarray(data.neighbors)
    if nbrs.size and nbrs.max() >= n:
        raise ValueError(f"data.neighbors must be image indices below {n} (negative = none)")
    listed = [i for r in data.representatives for i in r]
    listed += [i for g in data.duplicate_groups for i in g.members]
    if any(not 0 <= i < n for i in listed):
        raise ValueError(f"data.representatives and data.duplicate_groups must be in [0, {n})")
    k = int(labels.max()) + 1
    k = max(k, len(data.representatives), len(data.cluster_names or []))
    if data.cluster_names is not None and len(data.cluster_names) != k:
        raise ValueError(f"data.cluster_names must have one name per cluster ({k})")
    if data.cluster_guesses is not None and len(data.cluster_guesses) != k:
        raise ValueError(f"data.cluster_guesses must hold one list per cluster ({k})")
    _validate_extras(data, n)
    return k


def _validate_extras(data: ReportData, n: int) -> None:
    """Check the optional tag and duplicate fields (each may be ``None``)."""
    if data.tags is not None and (
        len(data.tags) != n
        or any(isinstance(ts, str) or not all(isinstance(t, str) for t in ts) for ts in data.tags)
    ):
        raise ValueError(f"data.tags must hold one list of strings per image ({n})")
    if data.exact_duplicates is not None and len(data.exact_duplicates) != n:
        raise ValueError(f"data.exact_duplicates must hold one flag per image ({n})")
    if data.captions is not None and len(data.captions) != n:
        raise ValueError(f"data.captions must hold one line per image ({n})")
    for name, values in (data.facets or {}).items():
        if len(values) != n:
            raise ValueError(f"data.facets[{name!r}] must hold one value per image ({n})")
    groups = data.duplicate_groups
    keepers = data.duplicate_keepers
    if keepers is not None and (
        len(keepers) != len(groups)
        or any(int(i) not in g.members for i, g in zip(keepers, groups, strict=False))
    ):
        raise ValueError(
            f"data.duplicate_keepers must name one member of each of the {len(groups)} groups"
        )
    if data.duplicate_reasons is not None and len(data.duplicate_reasons) != len(groups):
        raise ValueError(f"data.duplicate_reasons must hold one text per group ({len(groups)})")
    if data.file_sizes is not None and (
        len(data.file_sizes) != n or any(int(b) < 0 for b in data.file_sizes)
    ):
        raise ValueError(f"data.file_sizes must hold one size >= 0 per image ({n})")
    if data.image_details is not None and len(data.image_details) != n:
        raise ValueError(f"data.image_details must hold one text per image ({n})")
    if data.duplicate_histogram is not None:
        try:
            ts = [float(t) for t, _ in data.duplicate_histogram]
            ok = all(int(c) >= 0 for _, c in data.duplicate_histogram)
        except (TypeError, ValueError):
            ts, ok = [], False
        ok = ok and all(math.isfinite(t) for t in ts)
        if not ok or any(b <= a for a, b in itertools.pairwise(ts)):
            raise ValueError(
                "data.duplicate_histogram must hold (threshold, pairs >= 0) pairs "
                "with finite thresholds in ascending order"
            )
    if data.duplicate_examples is not None and not all(
        0 <= int(i) < n and 0 <= int(j) < n for side in data.duplicate_examples for i, j, _ in side
    ):
        raise ValueError(f"data.duplicate_examples must name images 0 .. {n - 1}")
    t = data.dup_threshold
    if t is not None and not (math.isfinite(t) and -1.0 <= t <= 1.0):
        raise ValueError(f"data.dup_threshold must be a cosine in [-1, 1], got {t}")


def _originals_href(data: ReportData, out: Path) -> str | None:
    """The relative URL of ``data.root`` from the page's folder, each segment encoded.

    It always starts with ``./`` or ``../``, so no path segment (``javascript:x``)
    can be read as a URL scheme; the page appends the image path the same way.
    """
    if not data.link_originals or not Path(data.root).is_absolute():
        return None
    try:
        rel = os.path.relpath(data.root, out.parent.resolve())
    except ValueError:  # another drive (Windows): no relative link
        return None
    parts = [quote(_clean(p), safe="") for p in Path(rel).parts]
    return "/".join(parts if parts and parts[0] == ".." else [".", *parts])


def _render(data: ReportData, thumbs: list[str], k: int, *, originals: str | None = None) -> str:
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    n = len(data.paths)
    colors = _colors(k)
    sizes = np.bincount(np.asarray(data.labels), minlength=k).tolist()
    names = [_clean(s) for s in (data.cluster_names or [f"Cluster {c}" for c in range(k)])]
    point_size = 10.0 if n <= 500 else 7.0 if n <= 5000 else 5.0 if n <= 20000 else 4.0
    alpha = 0.9 if n <= 2000 else 0.7
    doc = _document(data, k, colors, names, sizes, point_size=point_size, alpha=alpha)
    dups = data.duplicate_groups
    n_dup_images = sum(len(g.members) for g in dups)
    variables = {
        "explorer_css": CSS,
        "explorer_js": APP_JS,
        "explorer_header": _header(data, k, len(dups)),
        "explorer_data": _script_json(
            _payload(data, thumbs, colors, names, sizes, point_size=point_size, alpha=alpha)
            | {"originals": originals}
        ),
        "explorer_gallery_note": html.escape(
            f"{_plural(k, 'cluster')} · the images nearest each centre, best first"
            " · click one to pin it · tag a cluster with: explorer tag --cluster N TAG"
        ),
        "explorer_dup_hist": _histogram_html(
            data.duplicate_histogram, data.dup_threshold, n_groups=len(dups)
        ),
        "explorer_dup_note": html.escape(
            f"{_plural(len(dups), 'group')}, {_plural(n_dup_images, 'image')}"
            + (f" · showing the first {DUP_GROUPS_SHOWN}" if len(dups) > DUP_GROUPS_SHOWN else "")
        ),
        "explorer_footer": html.escape(
            f"Made with explorer {__version__} · {n} images · works offline"
        ),
    }
    title = _clean(data.title) or "explorer report"
    return str(
        file_html(
            doc, resources=INLINE, title=title, template=TEMPLATE, template_variables=variables
        )
    )


def _document(
    data: ReportData,
    k: int,
    colors: list[str],
    names: list[str],
    sizes: list[int],
    *,
    point_size: float,
    alpha: float,
) -> Any:
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
    # Ctrl + wheel). The legend is an HTML list beside the map (see report_assets), so
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


def _payload(
    data: ReportData,
    thumbs: list[str],
    colors: list[str],
    names: list[str],
    sizes: list[int],
    *,
    point_size: float,
    alpha: float,
) -> dict[str, Any]:
    paths = [_clean(p) for p in data.paths]
    nbr = np.asarray(data.neighbors, dtype=np.int64)
    scores = np.round(np.nan_to_num(np.asarray(data.neighbor_scores, dtype=np.float64)), 3)
    reps = list(data.representatives) + [[]] * (len(names) - len(data.representatives))
    keepers = data.duplicate_keepers
    guesses = list(data.cluster_guesses or []) + [[]] * (
        len(names) - len(data.cluster_guesses or [])
    )
    return {
        # names the tags added in the page in the browser's storage (one report, one set)
        "key": f"{_clean(data.root)}|{_clean(data.title)}|{len(paths)}",
        "paths": paths,
        "names": [p.rsplit("/", 1)[-1] or p for p in paths],
        "thumbs": thumbs,
        "labels": np.asarray(data.labels).astype(int).tolist(),
        "k": int(nbr.shape[1]),
        "nbr": nbr.reshape(-1).tolist(),
        "nbs": scores.reshape(-1).tolist(),
        "clusters": [
            {
                "name": names[c],
                "size": sizes[c],
                "color": colors[c],
                "reps": [int(i) for i in reps[c]],
                "guess": [[_clean(w), round(float(share), 3)] for w, share in guesses[c]],
            }
            for c in range(len(names))
        ],
        "dups": [
            {
                "m": [int(i) for i in g.members],
                "p": [[int(i), int(j), round(float(s), 3)] for i, j, s in g.pairs],
                "keep": -1 if keepers is None else int(keepers[n]),
                "x": bool(g.exact),
                "r": "" if data.duplicate_reasons is None else _clean(data.duplicate_reasons[n]),
            }
            for n, g in enumerate(data.duplicate_groups)
        ],
        "details": [_clean(t) for t in data.image_details or []],
        "bytes": [int(b) for b in data.file_sizes or []],
        "exact": [i for i, e in enumerate(data.exact_duplicates or []) if e],
        "tags": _tag_payload(data.tags),
        "captions": [_clean(c) for c in data.captions] if data.captions else [],
        "facets": _facet_payload(data.facets),
        "dup_threshold": None if data.dup_threshold is None else float(data.dup_threshold),
        "near": [
            [[int(i), int(j), round(float(c), 3)] for i, j, c in side]
            for side in (data.duplicate_examples or ([], []))
        ],
        "dup_limit": DUP_GROUPS_SHOWN,
        "dup_page": DUP_GROUPS_PAGE,
        "tag_color": TAG_COLOR,
        "grey": GREY,
        "point_size": point_size,
        "alpha": alpha,
        "line_alpha": alpha,
    }


def _facet_payload(facets: dict[str, list[str | None]] | None) -> list[dict[str, Any]]:
    """Per facet, each distinct value once, sorted, with the images that have it."""
    out = []
    for name, values in (facets or {}).items():
        members: dict[str, list[int]] = {}
        for i, value in enumerate(values):
            if value:
                members.setdefault(_clean(value), []).append(i)
        if members and not (len(members) == 1 and len(next(iter(members.values()))) == len(values)):
            # (a facet whose one value covers every image tells nothing: left out)
            out.append(
                {
                    "name": _clean(name),
                    "values": [{"name": v, "m": members[v]} for v in sorted(members)],
                }
            )
    return out


def _tag_payload(tags: list[list[str]] | None) -> list[dict[str, Any]]:
    """Each distinct tag once, sorted, with the images that carry it."""
    members: dict[str, list[int]] = {}
    for i, image_tags in enumerate(tags or []):
        for tag in dict.fromkeys(_clean(t) for t in image_tags):
            members.setdefault(tag, []).append(i)
    return [{"name": t, "m": members[t]} for t in sorted(members)]


def _histogram_html(
    hist: list[tuple[float, int]] | None, threshold: float | None, *, n_groups: int
) -> str:
    """A small SVG bar chart of neighbour pairs at or above each threshold.

    Only numbers and fixed words go into the markup. The bars use a log scale,
    since the count at 0.80 is often a thousand times the count at 0.99; each
    bar has a ``<title>`` with its exact count.
    """
    if not hist:
        return ""
    width, height, left, right, top, bottom = 560, 170, 46, 14, 28, 30
    pw, ph = width - left - right, height - top - bottom
    ts = [float(t) for t, _ in hist]
    counts = [int(c) for _, c in hist]
    step = pw / len(hist)
    scale = math.log10(1 + max(counts)) or 1.0

    def y(count: float) -> float:
        return top + ph - ph * math.log10(1 + count) / scale

    def f(v: float) -> str:
        return f"{v:.1f}"

    parts = [
        f'<svg class="hist-svg" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Neighbour pairs at or above each cosine threshold">'
    ]
    power = 1
    while power <= max(counts):
        yy = f(y(power))
        parts.append(
            f'<line class="hist-grid" x1="{left}" x2="{width - right}" y1="{yy}" y2="{yy}"/>'
            f'<text class="hist-ylab" x="{left - 6}" y="{yy}" dy="3.5">{power:,}</text>'
        )
        power *= 10
    every = max(1, round(len(hist) / 5))
    for j, (t, c) in enumerate(zip(ts, counts, strict=True)):
        x = left + j * step
        on = " on" if threshold is not None and t >= threshold - 1e-9 else ""
        parts.append(
            f'<rect class="hist-bar{on}" x="{f(x + 1)}" y="{f(y(c))}" width="{f(step - 2)}" '
            f'height="{f(top + ph - y(c))}" data-threshold="{t:.4g}" data-pairs="{c}">'
            f"<title>cosine ≥ {t:.2f}: {_plural(c, 'pair')}</title></rect>"
        )
        if j % every == 0 or j == len(hist) - 1:
            xl, yl = f(x + step / 2), height - bottom + 14
            parts.append(f'<text class="hist-xlab" x="{xl}" y="{yl}">{t:.2f}</text>')
    base = top + ph
    parts.append(
        f'<line class="hist-axis" x1="{left}" x2="{width - right}" y1="{base}" y2="{base}"/>'
        f'<text class="hist-xlab" x="{left + pw / 2}" y="{height - 2}">cosine threshold</text>'
    )
    caption = "pairs at or above each threshold (log scale)"
    if threshold is not None:
        centres = [left + (j + 0.5) * step for j in range(len(hist))]
        xt = float(np.interp(threshold, ts, centres)) if len(ts) > 1 else centres[0]
        if threshold < ts[0] or threshold > ts[-1]:
            xt = left if threshold < ts[0] else left + pw
        anchor = "start" if xt < left + 40 else "end" if xt > left + pw - 40 else "middle"
        parts.append(
            f'<line class="hist-cut" x1="{f(xt)}" x2="{f(xt)}" y1="{top - 8}" y2="{base}"/>'
            f'<text class="hist-cut-label" x="{f(xt)}" y="{top - 12}" text-anchor="{anchor}">'
            f"T = {threshold:.2f}</text>"
        )
        at = [c for t, c in zip(ts, counts, strict=True) if abs(t - threshold) < 1e-9]
        pairs = f"{_plural(at[0], 'pair')} and " if at else ""
        caption = f"{pairs}{_plural(n_groups, 'group')} at T = {threshold:.2f} · " + caption
    parts.append("</svg>")
    return (
        '<div class="card hist" id="dup-hist">'
        '<h3 class="card-title">Choosing the threshold</h3>'
        f'<p class="muted hist-caption">{html.escape(caption)}</p>'
        + "".join(parts)
        + '<div id="dup-near" class="dup-near"></div>'
        + '<p class="hist-hint">Other thresholds: '
        "<code>explorer duplicates --threshold T</code> lists its groups;"
        " <code>explorer report --dup-threshold T</code> redraws this page.</p></div>"
    )


def _header(data: ReportData, k: int, n_dups: int) -> str:
    e = html.escape
    n = len(data.paths)
    stats = " · ".join(
        f"<b>{count:,}</b> {word if count == 1 else word + 's'}"
        for count, word in ((n, "image"), (k, "cluster"), (n_dups, "near-duplicate group"))
    )
    facts = "".join(
        f"<div><dt>{e(_clean(key))}</dt><dd>{e(_clean(value))}</dd></div>"
        for key, value in data.summary.items()
    )
    return (
        '<div class="brand"><div class="eyebrow">explorer · image map</div>'
        f"<h1>{e(_clean(data.title))}</h1>"
        f'<div class="root">{e(_clean(data.root))}</div>'
        f'<div class="stats">{stats}</div></div>'
        f'<dl class="summary">{facts}</dl>'
    )


def _script_json(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _clean(text: str) -> str:
    """Replace lone surrogates (undecodable file-name bytes) with U+FFFD."""
    return _SURROGATES.sub("\ufffd", str(text))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word if count == 1 else word + 's'}"


def _short(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _colors(k: int) -> list[str]:
    if k <= len(_PALETTE):
        return list(_PALETTE[:k])
    out = []
    for c in range(k):
        r, g, b = colorsys.hls_to_rgb((c * 0.618033988749895) % 1.0, 0.45, 0.65)
        out.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return out
