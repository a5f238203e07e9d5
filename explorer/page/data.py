"""What the report shows, as one typed record, and the checks it must pass.

:class:`ReportData` is built by :mod:`explorer.jobs.report` from the index and
the stored analysis; :func:`validate` rejects inconsistent data with a
``ValueError`` naming the field before anything is drawn.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from explorer.analysis.duplicates import DuplicateGroup


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
        exact_copies: Optional sets of rows whose files hold the same bytes (two
            or more rows each, no row in two sets): each is one picture, listed
            once in a neighbour list and marked "exact copy".
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
    exact_copies: list[list[int]] | None = None
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


def validate(data: ReportData) -> int:
    """Check that the fields of ``data`` agree with each other.

    Args:
        data: What the report is to show.

    Returns:
        The number of clusters (at least one more than the largest label, and
        as many as ``representatives`` or ``cluster_names`` list).

    Raises:
        ValueError: Naming the first field that does not fit.
    """
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
    if data.exact_copies is not None:
        rows = [i for s in data.exact_copies for i in s]
        if (
            any(len(s) < 2 for s in data.exact_copies)
            or len(set(rows)) != len(rows)
            or any(not 0 <= i < n for i in rows)
        ):
            raise ValueError(
                f"data.exact_copies must be sets of two or more distinct rows below {n}, "
                "no row in two sets"
            )
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
