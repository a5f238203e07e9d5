"""The standalone HTML report: presents the analysis, computes nothing.

One ``.html`` file that works offline from ``file://``: Bokeh's JavaScript is
inlined and the thumbnails are embedded as ``data:`` URIs. Above ``embed_limit``
images the thumbnails go to a sidecar folder ``<stem>_files/`` next to the page
instead (see ``docs/report.md`` for the threshold and why).

The page is ``templates/page.html.j2`` rendered by the autoescaping Jinja
environment of :mod:`explorer.page.assets`, around the Bokeh map of
:mod:`explorer.page.figure`.

Security: file names are hostile input. They reach the page as text that Jinja
escapes, or as JSON inside ``<script type="application/json">`` (with ``<``,
``>`` and ``&`` escaped) that the page script shows with ``textContent``. No
Bokeh tooltip template or ``Div`` ever holds file-derived text, and ``src``
attributes only ever receive ``data:`` URIs built here or sidecar paths
generated here. Bokeh and Jinja are imported inside the functions that use them.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from explorer.page import assets
from explorer.page.data import ReportData, validate
from explorer.page.figure import cluster_colors, map_document
from explorer.page.histogram import threshold_chart
from explorer.page.payload import DUP_GROUPS_SHOWN, payload, script_json
from explorer.page.thumbnails import SIDECAR_MARKER, data_uri, fit_budget, write_sidecar
from explorer.progress import Progress, no_progress
from explorer.store.folder import write_output_bytes
from explorer.text import clean_surrogates, grouped_count, plural
from explorer.version import __version__

log = logging.getLogger(__name__)

EMBED_LIMIT = 10_000
"""Most images whose thumbnails are embedded in the page; above it they go to a sidecar folder."""


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
    n_clusters = validate(data)
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
    parts = [quote(clean_surrogates(p), safe="") for p in Path(rel).parts]
    return "/".join(parts if parts and parts[0] == ".." else [".", *parts])


def _render(data: ReportData, thumbs: list[str], k: int, *, originals: str | None = None) -> str:
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    n = len(data.paths)
    colors = cluster_colors(k)
    sizes = np.bincount(np.asarray(data.labels), minlength=k).tolist()
    names = [
        clean_surrogates(s) for s in (data.cluster_names or [f"Cluster {c}" for c in range(k)])
    ]
    point_size = 10.0 if n <= 500 else 7.0 if n <= 5000 else 5.0 if n <= 20000 else 4.0
    alpha = 0.9 if n <= 2000 else 0.7
    doc = map_document(data, k, colors, point_size=point_size, alpha=alpha)
    page_data = payload(
        data, thumbs, colors, names, sizes, point_size=point_size, alpha=alpha, originals=originals
    )
    template = assets.environment().get_template(assets.PAGE_TEMPLATE)
    title = clean_surrogates(data.title) or "explorer report"
    return str(
        file_html(
            doc,
            resources=INLINE,
            title=title,
            template=template,
            template_variables=_page_variables(data, k, page_data),
        )
    )


def _page_variables(data: ReportData, k: int, page_data: dict[str, Any]) -> dict[str, Any]:
    """What ``page.html.j2`` prints besides the map: plain text (escaped there) or Markup."""
    from markupsafe import Markup

    dups = data.duplicate_groups
    n_dup_images = sum(len(g.members) for g in dups)
    n = len(data.paths)
    return {
        "explorer_css": assets.stylesheet(),
        "explorer_js": assets.script(),
        "explorer_data": Markup(script_json(page_data)),
        "header": _header(data, k, len(dups)),
        "chart": threshold_chart(data.duplicate_histogram, data.dup_threshold, n_groups=len(dups)),
        "explorer_gallery_note": (
            f"{grouped_count(k, 'cluster')} · the images nearest each centre, best first"
            " · click one to pin it · tag a cluster with: explorer tag --cluster N TAG"
        ),
        "explorer_dup_note": (
            f"{grouped_count(len(dups), 'group')}, {grouped_count(n_dup_images, 'image')}"
            + (f" · showing the first {DUP_GROUPS_SHOWN}" if len(dups) > DUP_GROUPS_SHOWN else "")
        ),
        "explorer_footer": f"Made with explorer {__version__} · {n} images · works offline",
    }


def _header(data: ReportData, k: int, n_dups: int) -> dict[str, Any]:
    """What ``header.html.j2`` shows; all text, escaped by the template."""
    counts = ((len(data.paths), "image"), (k, "cluster"), (n_dups, "duplicate group"))
    return {
        "title": clean_surrogates(data.title),
        "root": clean_surrogates(data.root),
        "stats": [(f"{c:,}", plural(c, word)) for c, word in counts],
        "summary": [
            (clean_surrogates(key), clean_surrogates(value)) for key, value in data.summary.items()
        ],
    }
