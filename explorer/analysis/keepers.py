"""Which image of a duplicate group to keep, and why; the keep/review plan as CSV.

explorer never deletes a file: it suggests a keeper per group
(:func:`keeper_key`, with the reason from :func:`keep_reason`) and
:mod:`explorer.jobs.moves` can move the ``review`` images aside and back.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from numpy.typing import NDArray

from explorer.analysis.duplicates import DuplicateGroup, near_duplicate_groups
from explorer.store.index import Index
from explorer.store.records import ImageRecord


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
    exact: bool  # byte-identical to another member of the group
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
        """Whether every member has the same bytes (a group of near-duplicates may hold
        byte-identical twins, each marked :attr:`Member.exact`, and is not exact)."""
        return self.exact_group


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
    (a PNG over its JPEG re-encode, which is often the larger file), then, among
    lossy files, the largest (a JPEG re-saved at a lower quality is smaller; a
    lossless file's size says nothing of its quality: a brightened PNG copy is
    often the larger), then
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
    lossy = PurePosixPath(name).suffix.lower() not in _LOSSLESS
    return (
        -record.width * record.height,
        blurred,
        lossy,
        -record.size if lossy else 0,
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


def keeper_sets(
    records: Sequence[ImageRecord], groups: Sequence[DuplicateGroup]
) -> list[DuplicateSet]:
    """Each group with its members in keeper order (the suggested keeper first) and the reason.

    The one place a group's keeper is chosen: the report, ``explorer duplicates``
    and ``export`` all read it from here.

    Args:
        records: Every image of the index, in row order.
        groups: Duplicate groups over those rows.

    Returns:
        One set per group, in the groups' order, numbered from 0.
    """
    out = []
    for g, group in enumerate(groups):
        copies = Counter(records[m].sha256 for m in group.members)
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
                        exact=group.exact or copies[records[i].sha256] > 1,
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
    groups = near_duplicate_groups(index, neighbors, scores, threshold=threshold)
    return keeper_sets(index.records, groups)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting with ``= + - @`` (or a tab
    or carriage return) gets a leading ``'``, as the report's own CSV does. Numbers
    are left alone.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


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
