"""Batched feature extraction with decoding overlapped with inference.

Worker threads decode and resize the next images (Pillow releases the GIL)
while the main thread runs the network on the current batch, so the model is
the bottleneck. Bad files are filtered out before batching: a batch made only
of bad files never reaches the model. The network itself is built lazily, on
the first batch that needs it, so a run with nothing new to extract never
loads TensorFlow.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from explorer.backbones import Backbone, Embedding
from explorer.images import LoadedImage, Skipped, load_image

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2


@dataclass
class Batch:
    """One batch of decoded images and their embedding."""

    images: list[LoadedImage]
    embedding: Embedding


def decode_ahead(
    paths: Iterable[Path], *, workers: int = DEFAULT_WORKERS, window: int = 64
) -> Iterator[LoadedImage | Skipped]:
    """Decode images in worker threads, yielding results in input order.

    At most ``window`` images are decoded ahead of the consumer, so memory stays
    bounded whatever the folder size.
    """
    it = iter(paths)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending: deque[Future[LoadedImage | Skipped]] = deque()
        for path in it:
            pending.append(pool.submit(load_image, path))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(load_image, nxt))
            yield result


def extract(
    paths: Iterable[Path],
    get_backbone: Callable[[], Backbone],
    *,
    batch_size: int | None = None,
    workers: int = DEFAULT_WORKERS,
    window: int = 64,
) -> Iterator[Batch | Skipped]:
    """Embed images in batches; yield each batch, and each skipped file as it is found.

    Args:
        paths: Image files, in the order wanted.
        get_backbone: Returns the backbone; called once, when the first image
            decodes (so a run of only bad files never loads the network).
        batch_size: Images per model call; defaults to the backbone's own.
        workers: Decoding threads.
        window: Images decoded ahead of the model at most.

    Yields:
        :class:`Batch` results and :class:`~explorer.images.Skipped` files.
    """
    backbone: Backbone | None = None
    pending: list[LoadedImage] = []
    for item in decode_ahead(paths, workers=workers, window=window):
        if isinstance(item, Skipped):
            yield item
            continue
        if backbone is None:
            backbone = get_backbone()  # the first readable image: now the network is needed
        pending.append(item)
        if len(pending) >= (batch_size or backbone.batch_size):
            yield _embed(backbone, pending)
            pending = []
    if pending and backbone is not None:
        yield _embed(backbone, pending)


def _embed(backbone: Backbone, images: list[LoadedImage]) -> Batch:
    pixels: NDArray[np.uint8] = np.stack([im.pixels for im in images])
    return Batch(images, backbone.embed(pixels))
