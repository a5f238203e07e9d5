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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from explorer import faults
from explorer.errors import ExplorerError
from explorer.features.base import Backbone, Embedding
from explorer.inputs.decode import LoadedImage, load_image
from explorer.inputs.skips import Skipped

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
T = TypeVar("T")


class Journal(Protocol):
    """Where each decode's start and end is noted (:class:`explorer.store.quarantine.Journal`)."""

    def start(self, path: Path) -> None:
        """Note that decoding ``path`` begins."""

    def done(self, path: Path) -> None:
        """Note that decoding ``path`` ended."""


class DecodeHangError(ExplorerError):
    """A decode did not finish in time; the run must stop (the thread cannot be killed)."""

    exit_code = 3


def result_within(
    future: Future[T],
    timeout: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    tick: float = 0.5,
) -> T:
    """``future.result()``, waiting at most ``timeout`` seconds of time the process ran.

    The wait is counted in ticks: a tick that lasted much longer than asked
    means the whole process was stopped (Ctrl-Z, SIGSTOP, a suspended laptop),
    the decoder with it, so only one tick of it counts. A build paused for an
    hour is not a hung decoder, and no innocent file is quarantined for it.

    Raises:
        concurrent.futures.TimeoutError: After ``timeout`` seconds of waiting while running.
    """
    if timeout is None:
        return future.result()
    waited = 0.0
    while True:
        step = max(1e-3, min(tick, timeout - waited))
        started = clock()
        try:
            return future.result(timeout=step)
        except FutureTimeout:
            waited += min(clock() - started, 2 * step)  # a longer gap: we were stopped
            if waited >= timeout:
                raise


@dataclass
class Batch:
    """One batch of decoded images and their embedding."""

    images: list[LoadedImage]
    embedding: Embedding


def decode_ahead(
    paths: Iterable[Path],
    *,
    workers: int = DEFAULT_WORKERS,
    window: int = 64,
    journal: Journal | None = None,
    timeout: float | None = None,
) -> Iterator[LoadedImage | Skipped]:
    """Decode images in worker threads, yielding results in input order.

    At most ``window`` images are decoded ahead of the consumer, so memory stays
    bounded whatever the folder size. Each decode is noted in ``journal`` (so a
    crash can be traced to its file).

    Raises:
        DecodeHangError: A decode took longer than ``timeout`` seconds.
    """

    def decode(path: Path) -> LoadedImage | Skipped:
        if journal is not None:
            journal.start(path)
        faults.decode(path)
        result = load_image(path)
        if journal is not None:
            journal.done(path)
        return result

    it = iter(paths)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    hung = False
    try:
        pending: deque[tuple[Path, Future[LoadedImage | Skipped]]] = deque()
        for path in it:
            pending.append((path, pool.submit(decode, path)))
            if len(pending) >= window:
                break
        while pending:
            path, future = pending.popleft()
            try:
                result = result_within(future, timeout)  # pause-aware (Ctrl-Z)
            except FutureTimeout:
                hung = True
                raise DecodeHangError(
                    f"decoding {path} did not finish in {timeout:g} s; the run stopped with its "
                    "checkpoints kept. Run the same command again: the file will be re-tried "
                    "alone and skipped as decode_timeout if it hangs again"
                ) from None
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(decode, nxt)))
            yield result
    finally:
        pool.shutdown(wait=not hung, cancel_futures=True)


def extract(
    paths: Iterable[Path],
    get_backbone: Callable[[], Backbone],
    *,
    batch_size: int | None = None,
    workers: int = DEFAULT_WORKERS,
    window: int = 64,
    journal: Journal | None = None,
    timeout: float | None = None,
) -> Iterator[Batch | Skipped]:
    """Embed images in batches; yield each batch, and each skipped file as it is found.

    Args:
        paths: Image files, in the order wanted.
        get_backbone: Returns the backbone; called once, when the first image
            decodes (so a run of only bad files never loads the network).
        batch_size: Images per model call; defaults to the backbone's own.
        workers: Decoding threads.
        window: Images decoded ahead of the model at most.
        journal: Where to note each decode's start and end.
        timeout: Seconds one decode may take (``None``: no limit).

    Yields:
        :class:`Batch` results and :class:`~explorer.inputs.skips.Skipped` files.
    """
    backbone: Backbone | None = None
    pending: list[LoadedImage] = []
    for item in decode_ahead(
        paths, workers=workers, window=window, journal=journal, timeout=timeout
    ):
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
    return Batch(images, interruptible(backbone.embed, pixels))


def interruptible(
    call: Callable[[NDArray[np.uint8]], Embedding], pixels: NDArray[np.uint8]
) -> Embedding:
    """``call(pixels)``, run so that Ctrl-C stops the main thread at once.

    A model call in C++ (TensorFlow) holds off ``KeyboardInterrupt`` until it
    returns, seconds later. Run on the main thread, the call goes to a daemon
    thread and the main thread waits in short, interruptible joins: Ctrl-C
    abandons the batch in flight (its images are extracted again on resume).
    """
    if threading.current_thread() is not threading.main_thread():
        return call(pixels)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call(pixels)
        except BaseException as exc:  # handed to the main thread, interrupts included
            box["error"] = exc

    worker = threading.Thread(target=run, name="explorer-embed", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in box:
        raise box["error"]
    result: Embedding = box["value"]
    return result
