"""The pixel check: a second test of a near-duplicate pair, on the thumbnails' pixels.

An embedding cannot tell a left arrow from a right one; 32x32 colour views
of the two thumbnails, compared after small crops, can (see :class:`PixelCheck`).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

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
