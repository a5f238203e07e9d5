"""Evidence for choosing a near-duplicate threshold: pair counts, the rank curve, examples.

All of it reads the distinct pairs of the neighbour graph
(:func:`explorer.analysis.duplicates.unique_pairs`) scored on the raw features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from explorer.analysis.duplicates import unique_pairs

HISTOGRAM_THRESHOLDS = tuple(round(0.50 + 0.02 * i, 2) for i in range(26))


_ROUNDING = 1e-6
"""float32 rounding of a cosine: an image and its exact copy score 0.9999999."""


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
    pairs = np.sort(unique_pairs(neighbors, scores)[2])
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
    lo, hi, vals = unique_pairs(neighbors, scores)
    order = np.argsort(vals, kind="stable")
    cut = int(np.searchsorted(vals[order], threshold, side="left"))
    above = order[cut : cut + count]
    below = order[max(0, cut - count) : cut][::-1]
    return (
        [(int(lo[i]), int(hi[i]), float(vals[i])) for i in above],
        [(int(lo[i]), int(hi[i]), float(vals[i])) for i in below],
    )


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
    lo, hi, vals = unique_pairs(neighbors, scores)
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
