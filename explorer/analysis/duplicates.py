"""Near-duplicate and exact-duplicate groups, with a suggested image to keep and why.

The rule lives here (:func:`near_duplicate_groups`): a pair scores the cosine
of the raw backbone features and must pass the :class:`PixelCheck`. explorer
never deletes a file: it lists groups, writes the plan as CSV, and
:mod:`explorer.jobs.moves` can move the ``review`` images aside and back.
"""

from __future__ import annotations

import csv
import io
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from explorer.store.folder import write_output_bytes
from explorer.store.index import Index
from explorer.store.records import ImageRecord

if TYPE_CHECKING:
    from explorer.analysis.compute import DuplicateGroup

HISTOGRAM_THRESHOLDS = tuple(round(0.50 + 0.02 * i, 2) for i in range(26))

_ROUNDING = 1e-6
"""float32 rounding of a cosine: an image and its exact copy score 0.9999999."""


PIXEL_SIGMA = 0.6
"""How far (in standard deviations of the image) a pixel may move before it counts as different."""
PIXEL_SIDE = 32
"""Side of the colour views the pixel check compares."""
PIXEL_MAX_DIFF = 0.005
"""Most pixels (a share) that may differ by over :data:`PIXEL_SIGMA` (see the benchmark)."""
_CROPS = tuple(
    (c, dx * c, dy * c)
    for c in (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08)
    for dx in (-1, 0, 1)
    for dy in (-1, 0, 1)
    if c > 0 or (dx == 0 and dy == 0)
)
"""Crops tried (share cut off each side, and a shift): up to 8 % off every side, or 16 % off one."""
_CACHED_VIEWS = 1024  # images whose views are kept (about 450 kB each)
_STEPS = 20  # a view's unit: 1/20 of a standard deviation (0.6 sd = 12 units)


class PixelCheck:
    """Second test of a near-duplicate pair, on the pixels rather than the embedding.

    Two images agree when, after one of them is cropped by up to 8 % (in steps
    of 1 %, a few offsets each) and both are shrunk to 32x32 colour pixels and
    brought to zero mean and unit variance, at most :data:`PIXEL_MAX_DIFF` of
    the pixels (5 of 1,024) differ by more than :data:`PIXEL_SIGMA` standard
    deviations in any channel. That rejects the pairs an embedding cannot tell
    apart: a left and a right arrow (mirror images), two warning signs that
    differ only in the symbol inside the triangle, a red and a blue version of
    one drawing. Brightness, re-compression and resizing barely move it.
    Views are computed once per image, and only for images with a candidate pair.
    """

    def __init__(self, thumbnails: Sequence[bytes], *, max_diff: float = PIXEL_MAX_DIFF) -> None:
        if not 0.0 <= max_diff <= 1.0:
            raise ValueError(f"max_diff must be a share in [0, 1], got {max_diff}")
        self.max_diff = max_diff
        self._thumbs = thumbnails
        self._views: OrderedDict[int, NDArray[np.int16] | None] = OrderedDict()

    def __call__(self, a: int, b: int) -> bool:
        """Whether images ``a`` and ``b`` agree pixel for pixel (see the class)."""
        return self.difference(a, b) <= self.max_diff

    def difference(self, a: int, b: int) -> float:
        """Share of pixels that differ (in any channel), at the best crop of either image."""
        va, vb = self._view(a), self._view(b)
        if va is None or vb is None:
            return 1.0
        return min(_off(va, vb[0]), _off(vb, va[0])) / (PIXEL_SIDE * PIXEL_SIDE)

    def _view(self, row: int) -> NDArray[np.int16] | None:
        if row in self._views:
            self._views.move_to_end(row)
            return self._views[row]
        view = _crop_views(self._thumbs[row])
        self._views[row] = view
        if len(self._views) > _CACHED_VIEWS:
            self._views.popitem(last=False)
        return view


def _off(views: NDArray[np.int16], other: NDArray[np.int16]) -> int:
    """Fewest pixels, over ``views``, where a channel differs from ``other`` by over the limit."""
    limit = round(PIXEL_SIGMA * _STEPS)
    d = np.abs(views - other)  # (views, 3, pixels)
    over = (d[:, 0] > limit) | (d[:, 1] > limit) | (d[:, 2] > limit)
    return int(np.count_nonzero(over, axis=1).min())


def _crop_views(thumbnail: bytes) -> NDArray[np.int16] | None:
    """``(len(_CROPS), 3, 32 * 32)`` standardised colour views of one thumbnail (None: unreadable).

    One mean and one standard deviation over all three channels, so a
    brighter copy lines up while a red and a blue version of one drawing do not.
    Values are in units of 1/20 standard deviation (small integers compare fast).
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(thumbnail)) as im:
            rgb = im.convert("RGB")
    except Exception:  # an unreadable thumbnail agrees with nothing
        return None
    side = 2 * PIXEL_SIDE  # crops are cut from a 64 px copy: as exact, and 6x fewer pixels
    if max(rgb.size) > side:
        scale = side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    w, h = rgb.size
    views = []
    for c, ox, oy in _CROPS:
        box = ((c + ox) * w, (c + oy) * h, w - (c - ox) * w, h - (c - oy) * h)
        small = rgb.resize((PIXEL_SIDE, PIXEL_SIDE), Image.Resampling.BILINEAR, box=box)
        views.append(np.asarray(small, dtype=np.float32))
    v = np.stack(views)
    mean = v.mean(axis=(1, 2, 3), keepdims=True)
    std = v.std(axis=(1, 2, 3), keepdims=True)
    z = (v - mean) / np.where(std > 0.5, std, 1.0) * _STEPS
    z = z.reshape(len(_CROPS), PIXEL_SIDE * PIXEL_SIDE, 3).transpose(0, 2, 1)
    out: NDArray[np.int16] = np.ascontiguousarray(np.clip(np.rint(z), -2000, 2000), dtype=np.int16)
    return out


def near_duplicate_groups(
    index: Index,
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    threshold: float,
) -> list[DuplicateGroup]:
    """The duplicate groups of an index: the one place the rule is applied.

    Pairs come from the neighbour graph, are scored on the raw backbone
    features (a cosine that does not depend on the collection, unlike the PCA
    fitted on it), must reach ``threshold`` and pass the :class:`PixelCheck`;
    groups are complete-linkage (:func:`explorer.analysis.compute.find_duplicates`),
    byte-identical files their own exact groups.
    """
    from explorer.analysis.compute import find_duplicates

    return find_duplicates(
        neighbors,
        scores,
        threshold=threshold,
        hashes=[r.sha256 for r in index.records],
        features=index.features,
        verify=PixelCheck(index.thumbnails()),
    )


def duplicate_scores(index: Index, neighbors: NDArray[np.int32]) -> NDArray[np.float32]:
    """The near-duplicate score of every graph edge: the cosine of the raw backbone features."""
    from explorer.analysis.compute import edge_scores

    return edge_scores(index.features, neighbors)


@dataclass(frozen=True)
class Member:
    """One image of a duplicate group."""

    row: int
    path: str
    width: int
    height: int
    size: int
    mtime_ns: int
    keep: bool
    exact: bool  # byte-identical to another member
    score: float  # best cosine similarity to another member
    sharpness: float | None = None


@dataclass(frozen=True)
class DuplicateSet:
    """A group of near-duplicates (or of byte-identical copies), the suggested keeper first."""

    group: int
    members: list[Member]
    exact_group: bool = False
    reason: str = ""  # why the keeper was chosen, e.g. "4032×3024, sharpest"

    @property
    def exact(self) -> bool:
        """Whether every member has the same bytes."""
        return self.exact_group or all(m.exact for m in self.members)


_COPY_NAME = re.compile(
    r"(?i)(^copy of |(?<![a-z])(copy|duplicate|kopie|copie)(?![a-z])[\s._-]*\d*$|\s*\(\d+\)$)"
)
"""A file name stem that says it is a copy: ``x-copy``, ``x copy 2``, ``x (1)``, ``Copy of x``."""


def looks_like_copy(path: str) -> bool:
    """Whether a file's name says it is a copy of another (``-copy``, `` (1)``, ``duplicate``)."""
    return bool(_COPY_NAME.search(PurePosixPath(path).stem))


SHARPNESS_MARGIN = 1.5
"""How many times sharper than a copy the group's sharpest member must be for the copy
to count as less sharp. Re-compressing (JPEG q70) or brightening (+12 %) a copy moves
the variance of the Laplacian by a factor of 0.84-1.19 (measured on 40 clip-art and
photo copies); a blur (Gaussian, radius 1.5) divides it by about 3. Within the
margin, sharpness does not decide: JPEG noise would otherwise make a re-saved copy
look sharper than its original."""


_LOSSLESS = frozenset({".png", ".tif", ".tiff", ".bmp", ".gif"})
"""Extensions of formats that store every pixel as it was (WebP, HEIC and AVIF may not)."""


def keeper_key(
    record: ImageRecord, *, sharpest: float | None = None
) -> tuple[int, int, bool, int, bool, bool, str, int, int, bytes]:
    """Sort key that puts the best image to keep first.

    Largest resolution, then sharp (within :data:`SHARPNESS_MARGIN` of the
    group's ``sharpest``; unknown counts as less sharp), then a lossless format
    (a PNG over its JPEG re-encode, which is often the larger file), then largest file, then
    a name that does not say "copy", then a file with an EXIF capture date (a
    camera original rather than a re-saved copy), then the earliest capture
    date, then the oldest modification time, then shortest name (then path).
    Use :func:`keeper_order` to order a group: it supplies ``sharpest``.
    """
    name = PurePosixPath(record.path).name
    exif_date = record.taken_source == "exif" and record.taken is not None
    if record.sharpness is None:
        blurred = 1
    else:
        blurred = int(sharpest is not None and record.sharpness * SHARPNESS_MARGIN < sharpest)
    return (
        -record.width * record.height,
        blurred,
        PurePosixPath(name).suffix.lower() not in _LOSSLESS,
        -record.size,
        looks_like_copy(record.path),
        not exif_date,
        (record.taken or "")[:19] if exif_date else "",
        record.mtime_ns,
        len(name),
        record.path.encode("utf-8", "surrogateescape"),
    )


def keeper_order(records: Sequence[ImageRecord]) -> list[int]:
    """Positions in ``records`` (one group), the best image to keep first (:func:`keeper_key`)."""
    sharpest = max((r.sharpness for r in records if r.sharpness is not None), default=None)
    return sorted(range(len(records)), key=lambda i: keeper_key(records[i], sharpest=sharpest))


def keep_reason(keeper: ImageRecord, others: Sequence[ImageRecord]) -> str:
    """Why ``keeper`` comes first, e.g. ``4032×3024, sharpest``: the first rule it wins on."""
    size = f"{keeper.width}×{keeper.height}"
    if not others:
        return size
    group = [keeper, *others]
    sharpest = max((r.sharpness for r in group if r.sharpness is not None), default=None)
    rest = min(others, key=lambda r: keeper_key(r, sharpest=sharpest))
    mine, theirs = keeper_key(keeper, sharpest=sharpest), keeper_key(rest, sharpest=sharpest)
    labels = (
        "highest resolution",
        "sharpest",
        "lossless format",
        "largest file",
        "not named as a copy",
        "has an EXIF capture date",
        "taken first",
        "oldest",
        "shortest name",
        "first by name",
    )
    unknown = " (sharpness not recorded: the index predates it)"
    for label, a, b in zip(labels, mine, theirs, strict=True):
        if a != b:
            note = unknown if keeper.sharpness is None and label != labels[0] else ""
            return f"{size}, {label}{note}"
    return size + (unknown if keeper.sharpness is None else "")


def duplicate_sets(
    index: Index,
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    threshold: float,
) -> list[DuplicateSet]:
    """Near-duplicate groups at ``threshold`` and exact-copy groups, each with its keeper first.

    Args:
        index: The index (records, raw features, thumbnails).
        neighbors: ``(n, k)`` neighbour graph.
        scores: ``(n, k)`` similarities of the graph (replaced by the raw-feature cosine).
        threshold: Cosine similarity from which two images are near-duplicates.

    Returns:
        Groups, largest first; in each, the suggested keeper first.
    """
    records = index.records
    groups = near_duplicate_groups(index, neighbors, scores, threshold=threshold)
    out = []
    for g, group in enumerate(groups):
        best: dict[int, float] = {}
        for a, b, s in group.pairs:
            best[a] = max(best.get(a, -1.0), s)
            best[b] = max(best.get(b, -1.0), s)
        ordered = [group.members[i] for i in keeper_order([records[m] for m in group.members])]
        out.append(
            DuplicateSet(
                group=g,
                members=[
                    Member(
                        row=i,
                        path=records[i].path,
                        width=records[i].width,
                        height=records[i].height,
                        size=records[i].size,
                        mtime_ns=records[i].mtime_ns,
                        keep=pos == 0,
                        exact=group.exact,
                        score=round(best.get(i, 1.0), 4),
                        sharpness=records[i].sharpness,
                    )
                    for pos, i in enumerate(ordered)
                ],
                exact_group=group.exact,
                reason=keep_reason(records[ordered[0]], [records[i] for i in ordered[1:]]),
            )
        )
    return out


def _pairs(
    neighbors: NDArray[np.int32], scores: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Every distinct neighbour pair of the graph once: ``(i, j, score)`` with ``i < j``."""
    n, k = neighbors.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = neighbors.reshape(-1).astype(np.int64)
    vals = scores.reshape(-1).astype(np.float64)
    ok = (cols >= 0) & (cols != rows)
    lo, hi = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok])
    _, first = np.unique(lo * n + hi, return_index=True)
    return lo[first], hi[first], vals[ok][first]


def histogram(
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    thresholds: Sequence[float] = HISTOGRAM_THRESHOLDS,
) -> list[tuple[float, int]]:
    """How many neighbour pairs have a similarity at or above each threshold.

    Scores within float32 rounding of a threshold count as reaching it, so
    identical images (cosine 0.99999..) are counted at 1.00.
    """
    pairs = np.sort(_pairs(neighbors, scores)[2])
    return [
        (t, int(pairs.size - np.searchsorted(pairs, t - _ROUNDING, side="left")))
        for t in thresholds
    ]


def pairs_near(
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    threshold: float,
    count: int = 3,
) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    """Example pairs just above and just below a threshold, to judge the cut by eye."""
    lo, hi, vals = _pairs(neighbors, scores)
    order = np.argsort(vals, kind="stable")
    cut = int(np.searchsorted(vals[order], threshold, side="left"))
    above = order[cut : cut + count]
    below = order[max(0, cut - count) : cut][::-1]
    return (
        [(int(lo[i]), int(hi[i]), float(vals[i])) for i in above],
        [(int(lo[i]), int(hi[i]), float(vals[i])) for i in below],
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting with ``= + - @`` (or a tab
    or carriage return) gets a leading ``'``, as the report's own CSV does. Numbers
    are left alone.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


RANKS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000, 100000)


def pair_curve(
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    check: Callable[[int, int], bool] | None = None,
    threshold: float | None = None,
    ranks: Sequence[int] = RANKS,
) -> list[tuple[int, float, bool | None]]:
    """The score of the r-th best neighbour pair, for each rank r: the curve to cut.

    Where distinct images begin, the curve bends; the pixel check (when given)
    says whether the pair at that rank would pass it. With ``threshold``, the
    last rank at or above it and the first below it are included too.

    Returns:
        ``(rank, score, passes the pixel check or None)``, ranks beyond the
        number of pairs left out (the last pair is always included).
    """
    lo, hi, vals = _pairs(neighbors, scores)
    order = np.argsort(-vals, kind="stable")
    wanted = {r for r in ranks if r <= order.size} | ({order.size} if order.size else set())
    if threshold is not None:
        above = int(np.sum(vals >= threshold - _ROUNDING))
        wanted |= {r for r in (above, above + 1) if 1 <= r <= order.size}
    out: list[tuple[int, float, bool | None]] = []
    for r in sorted(wanted):
        k = order[r - 1]
        ok = None if check is None else check(int(lo[k]), int(hi[k]))
        out.append((r, round(float(vals[k]), 4), ok))
    return out


def plan_csv(sets: Sequence[DuplicateSet]) -> str:
    """The groups as CSV: one row per image, with ``keep`` or ``review`` as the action."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["group", "action", "path", "width", "height", "bytes", "mtime_ns", "exact", "score"]
    )
    for s in sets:
        for m in s.members:
            writer.writerow(
                [
                    s.group,
                    "keep" if m.keep else "review",
                    csv_text(m.path),
                    m.width,
                    m.height,
                    m.size,
                    m.mtime_ns,
                    int(m.exact),
                    f"{m.score:.4f}",
                ]
            )
    return buf.getvalue()


def write_plan(sets: Sequence[DuplicateSet], out: Path) -> Path:
    """Write :func:`plan_csv` atomically (UTF-8, non-UTF-8 names as surrogate escapes)."""
    write_output_bytes(out, plan_csv(sets).encode("utf-8", "surrogateescape"))
    return out
