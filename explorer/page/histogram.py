"""The threshold chart of the report: neighbour pairs at or above each cosine threshold.

A small SVG bar chart above the near-duplicate groups, so that the cut can be
judged: :func:`threshold_chart` computes its geometry, and
``templates/histogram.html.j2`` draws it. The bars use a log scale, since the
count at 0.80 is often a thousand times the count at 0.99; each bar has a
``<title>`` with its exact count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explorer.text import grouped_count

WIDTH, HEIGHT = 560, 170
"""Size of the chart's ``viewBox``, in SVG units (it scales with the page)."""

_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 14, 28, 30  # margins for the axis labels


@dataclass(frozen=True)
class Label:
    """A text at ``(x, y)`` in SVG units."""

    x: str
    y: str
    text: str


@dataclass(frozen=True)
class Bar:
    """One threshold's bar; ``on`` when it is at or above the threshold in use."""

    x: str
    y: str
    width: str
    height: str
    threshold: str
    pairs: int
    on: bool
    title: str
    label: Label | None
    """Its threshold under the axis (about five of them are labelled)."""


@dataclass(frozen=True)
class Cut:
    """The dashed line at the threshold in use, and its label."""

    x: str
    y1: int
    label_y: int
    anchor: str
    text: str


@dataclass(frozen=True)
class ThresholdChart:
    """Everything the template draws; coordinates are preformatted SVG numbers."""

    width: int
    height: int
    left: int
    right: int
    """x of the right end of the axis and the grid lines."""
    base: int
    """y of the axis."""
    grid: list[Label]
    """One horizontal line per power of ten, labelled with it."""
    bars: list[Bar]
    axis_title: Label
    cut: Cut | None
    caption: str


def threshold_chart(
    hist: list[tuple[float, int]] | None, threshold: float | None, *, n_groups: int
) -> ThresholdChart | None:
    """The geometry of the threshold chart.

    Args:
        hist: ``(threshold, pairs)`` with thresholds ascending (validated by
            :func:`explorer.page.data.validate`); ``None`` or empty: no chart.
        threshold: The near-duplicate threshold in use, marked on the chart.
        n_groups: The number of near-duplicate groups at ``threshold``.

    Returns:
        The chart, or ``None`` without a histogram.
    """
    if not hist:
        return None
    pw, ph = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    ts = [float(t) for t, _ in hist]
    counts = [int(c) for _, c in hist]
    step = pw / len(hist)
    scale = math.log10(1 + max(counts)) or 1.0
    base = _TOP + ph

    def y(count: float) -> float:
        return _TOP + ph - ph * math.log10(1 + count) / scale

    grid = []
    power = 1
    while power <= max(counts):
        grid.append(Label(x=str(_LEFT - 6), y=_f(y(power)), text=f"{power:,}"))
        power *= 10
    every = max(1, round(len(hist) / 5))
    bars = []
    for j, (t, c) in enumerate(zip(ts, counts, strict=True)):
        x = _LEFT + j * step
        labelled = j % every == 0 or j == len(hist) - 1
        bars.append(
            Bar(
                x=_f(x + 1),
                y=_f(y(c)),
                width=_f(step - 2),
                height=_f(base - y(c)),
                threshold=f"{t:.4g}",
                pairs=c,
                on=threshold is not None and t >= threshold - 1e-9,
                title=f"cosine ≥ {t:.2f}: {grouped_count(c, 'pair')}",
                label=Label(_f(x + step / 2), str(HEIGHT - _BOTTOM + 14), f"{t:.2f}")
                if labelled
                else None,
            )
        )
    caption = "pairs at or above each threshold (log scale)"
    cut = None
    if threshold is not None:
        centres = [_LEFT + (j + 0.5) * step for j in range(len(hist))]
        xt = float(np.interp(threshold, ts, centres)) if len(ts) > 1 else centres[0]
        if threshold < ts[0] or threshold > ts[-1]:
            xt = _LEFT if threshold < ts[0] else _LEFT + pw
        anchor = "start" if xt < _LEFT + 40 else "end" if xt > _LEFT + pw - 40 else "middle"
        cut = Cut(_f(xt), _TOP - 8, _TOP - 12, anchor, f"T = {threshold:.2f}")
        at = [c for t, c in zip(ts, counts, strict=True) if abs(t - threshold) < 1e-9]
        pairs = f"{grouped_count(at[0], 'pair')} and " if at else ""
        caption = f"{pairs}{grouped_count(n_groups, 'group')} at T = {threshold:.2f} · " + caption
    return ThresholdChart(
        width=WIDTH,
        height=HEIGHT,
        left=_LEFT,
        right=WIDTH - _RIGHT,
        base=base,
        grid=grid,
        bars=bars,
        axis_title=Label(str(_LEFT + pw / 2), str(HEIGHT - 2), "cosine threshold"),
        cut=cut,
        caption=caption,
    )


def _f(v: float) -> str:
    return f"{v:.1f}"
