"""The page data: what the report's script receives, as JSON in the page.

It travels in ``<script type="application/json" id="explorer-data">``, escaped
by :func:`script_json` so that no file name can end the element.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from explorer.page.data import ReportData
from explorer.page.figure import GREY, TAG_COLOR
from explorer.text import clean_surrogates

DUP_GROUPS_PAGE = 12
"""Duplicate groups drawn at a time; a button shows the next page."""

DUP_GROUPS_SHOWN = 200
"""Most near-duplicate groups listed in the page (the rest are counted)."""


def payload(
    data: ReportData,
    thumbs: list[str],
    colors: list[str],
    names: list[str],
    sizes: list[int],
    *,
    point_size: float,
    alpha: float,
    originals: str | None = None,
) -> dict[str, Any]:
    """The page data: everything the page script shows, as plain JSON values.

    Every file-derived string is passed through
    :func:`explorer.text.clean_surrogates`; the script shows them with
    ``textContent``. Per-image arrays are indexed by image; the neighbour graph
    is flattened row by row (``k`` per image).

    Args:
        data: What the report shows (validated).
        thumbs: One image source per image (``data:`` URI or sidecar path).
        colors: One colour per cluster.
        names: One display name per cluster.
        sizes: The number of images in each cluster.
        point_size: Diameter of a point on the map, in screen pixels.
        alpha: Opacity of the points.
        originals: Relative URL of the indexed folder from the page, when the
            pinned panel links to the original files.

    Returns:
        A dict for :func:`script_json`.
    """
    paths = [clean_surrogates(p) for p in data.paths]
    nbr = np.asarray(data.neighbors, dtype=np.int64)
    scores = np.round(np.nan_to_num(np.asarray(data.neighbor_scores, dtype=np.float64)), 3)
    reps = list(data.representatives) + [[]] * (len(names) - len(data.representatives))
    keepers = data.duplicate_keepers
    guesses = list(data.cluster_guesses or []) + [[]] * (
        len(names) - len(data.cluster_guesses or [])
    )
    return {
        # names the tags added in the page in the browser's storage (one report, one set)
        "key": f"{clean_surrogates(data.root)}|{clean_surrogates(data.title)}|{len(paths)}",
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
                "guess": [[clean_surrogates(w), round(float(share), 3)] for w, share in guesses[c]],
            }
            for c in range(len(names))
        ],
        "dups": [
            {
                "m": [int(i) for i in g.members],
                "p": [[int(i), int(j), round(float(s), 3)] for i, j, s in g.pairs],
                "keep": -1 if keepers is None else int(keepers[n]),
                "x": bool(g.exact),
                "r": ""
                if data.duplicate_reasons is None
                else clean_surrogates(data.duplicate_reasons[n]),
            }
            for n, g in enumerate(data.duplicate_groups)
        ],
        "details": [clean_surrogates(t) for t in data.image_details or []],
        "bytes": [int(b) for b in data.file_sizes or []],
        "copies": [[int(i) for i in s] for s in data.exact_copies or []],
        "tags": _tag_payload(data.tags),
        "captions": [clean_surrogates(c) for c in data.captions] if data.captions else [],
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
        "originals": originals,
    }


def _facet_payload(facets: dict[str, list[str | None]] | None) -> list[dict[str, Any]]:
    """Per facet, each distinct value once, sorted, with the images that have it."""
    out = []
    for name, values in (facets or {}).items():
        members: dict[str, list[int]] = {}
        for i, value in enumerate(values):
            if value:
                members.setdefault(clean_surrogates(value), []).append(i)
        if members and not (len(members) == 1 and len(next(iter(members.values()))) == len(values)):
            # (a facet whose one value covers every image tells nothing: left out)
            out.append(
                {
                    "name": clean_surrogates(name),
                    "values": [{"name": v, "m": members[v]} for v in sorted(members)],
                }
            )
    return out


def _tag_payload(tags: list[list[str]] | None) -> list[dict[str, Any]]:
    """Each distinct tag once, sorted, with the images that carry it."""
    members: dict[str, list[int]] = {}
    for i, image_tags in enumerate(tags or []):
        for tag in dict.fromkeys(clean_surrogates(t) for t in image_tags):
            members.setdefault(tag, []).append(i)
    return [{"name": t, "m": members[t]} for t in sorted(members)]


def script_json(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` are written as ``\\u`` escapes, so the text can hold
    neither ``</script>`` nor ``<!--``; NaN and infinities are refused.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
