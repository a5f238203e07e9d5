"""Near-duplicate and exact-duplicate groups, with a suggested image to keep.

explorer never deletes or moves a file: it lists groups and can write the plan
as CSV for the user to act on.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from explorer.index import ImageRecord
from explorer.store import write_output_bytes

HISTOGRAM_THRESHOLDS = tuple(round(0.50 + 0.02 * i, 2) for i in range(26))

_ROUNDING = 1e-6
"""float32 rounding of a cosine: an image and its exact copy score 0.9999999."""


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


@dataclass(frozen=True)
class DuplicateSet:
    """A group of near-duplicates, the suggested keeper first."""

    group: int
    members: list[Member]

    @property
    def exact(self) -> bool:
        """Whether every member has the same bytes."""
        return all(m.exact for m in self.members)


def keeper_key(record: ImageRecord) -> tuple[int, int, bool, str, int, bytes]:
    """Sort key that puts the best image to keep first.

    Largest resolution, then largest file; on a tie, a file with an EXIF
    capture date (a camera original rather than a re-saved copy), then the
    earliest capture date, then the oldest modification time (then path).
    """
    exif_date = record.taken_source == "exif" and record.taken is not None
    return (
        -record.width * record.height,
        -record.size,
        not exif_date,
        (record.taken or "")[:19] if exif_date else "",
        record.mtime_ns,
        record.path.encode("utf-8", "surrogateescape"),
    )


def duplicate_sets(
    records: Sequence[ImageRecord],
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    threshold: float,
) -> list[DuplicateSet]:
    """Group images whose cosine similarity is ``>= threshold``, plus all byte-identical files.

    Args:
        records: Index records, one per row.
        neighbors: ``(n, k)`` neighbour graph.
        scores: ``(n, k)`` cosine similarities.
        threshold: Cosine similarity from which two images are near-duplicates.

    Returns:
        Groups, largest first; in each, the suggested keeper first.
    """
    from explorer.analysis import find_duplicates

    hashes = [r.sha256 for r in records]
    groups = find_duplicates(neighbors, scores, threshold=threshold, hashes=hashes)
    counts = Counter(hashes)
    out = []
    for g, group in enumerate(groups):
        best: dict[int, float] = {}
        for a, b, s in group.pairs:
            best[a] = max(best.get(a, -1.0), s)
            best[b] = max(best.get(b, -1.0), s)
        group_hashes = Counter(hashes[i] for i in group.members)
        ordered = sorted(group.members, key=lambda i: keeper_key(records[i]))
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
                        exact=group_hashes[hashes[i]] > 1 and counts[hashes[i]] > 1,
                        score=round(best.get(i, 1.0), 4),
                    )
                    for pos, i in enumerate(ordered)
                ],
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
