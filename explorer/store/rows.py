"""Rows of an index being assembled from an old index, checkpoints and new extraction."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.features.base import BackboneInfo, top_classes
from explorer.features.extract import Batch
from explorer.inputs.capture import Capture, read_capture
from explorer.inputs.decode import LoadedImage
from explorer.store.checkpoints import Chunk
from explorer.store.index import Index
from explorer.store.records import ImageRecord


def record_path(path: Path, root: Path) -> str:
    """How an index names a file: root-relative with ``/`` when under ``root``, else absolute."""
    text = os.path.abspath(path)
    root_text = os.path.abspath(root)
    if text.startswith(root_text.rstrip(os.sep) + os.sep):
        return os.path.relpath(text, root_text).replace(os.sep, "/")
    return text


def record_file(record: ImageRecord, root: Path) -> Path:
    """The file an index record points to."""
    return Path(record.path) if os.path.isabs(record.path) else root / record.path


def sort_key(path: str) -> bytes:
    """Deterministic byte order of record paths (non-UTF-8 names included)."""
    return path.encode("utf-8", "surrogateescape")


@dataclass
class Rows:
    """Parallel lists of records, features, classes and thumbnails."""

    records: list[ImageRecord] = field(default_factory=list)
    features: list[NDArray[np.float16]] = field(default_factory=list)
    class_ids: list[NDArray[np.int16] | None] = field(default_factory=list)
    class_probs: list[NDArray[np.float16] | None] = field(default_factory=list)
    thumbnails: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def append(
        self,
        record: ImageRecord,
        feature: NDArray[np.float16],
        thumbnail: bytes,
        ids: NDArray[np.int16] | None,
        probs: NDArray[np.float16] | None,
    ) -> None:
        """Add one row."""
        self.records.append(record)
        self.features.append(feature)
        self.thumbnails.append(thumbnail)
        self.class_ids.append(ids)
        self.class_probs.append(probs)

    def add_batch(self, batch: Batch, root: Path) -> None:
        """Add every image of an embedded batch."""
        emb = batch.embedding
        feats = emb.features.astype(np.float16)
        ids: NDArray[np.int16] | None = None
        probs: NDArray[np.float16] | None = None
        if emb.probabilities is not None:
            ids, probs = top_classes(emb.probabilities)
        for j, im in enumerate(batch.images):
            self.append(
                loaded_record(im, root),
                feats[j],
                im.thumbnail,
                None if ids is None else ids[j],
                None if probs is None else probs[j],
            )

    def add_chunk_row(self, chunk: Chunk, j: int, record: ImageRecord | None = None) -> None:
        """Add row ``j`` of a checkpoint chunk (optionally with an updated record)."""
        self.append(
            record or chunk.records[j],
            chunk.features[j],
            chunk.thumbnails[j],
            None if chunk.class_ids is None else chunk.class_ids[j],
            None if chunk.class_probs is None else chunk.class_probs[j],
        )

    def add_index_rows(self, index: Index, rows: list[tuple[int, ImageRecord]]) -> None:
        """Copy rows of a committed index (with their possibly updated records)."""
        if not rows:
            return
        index.verify_features()  # never carry damaged rows into a new generation
        thumbs = index.thumbnails()
        classes = index.classes()
        for i, record in rows:
            self.append(
                record,
                np.asarray(index.features[i], dtype=np.float16),
                thumbs[i],
                None if classes is None else classes[0][i],
                None if classes is None else classes[1][i],
            )

    def extend(self, other: Rows) -> None:
        """Append all rows of ``other``."""
        self.records.extend(other.records)
        self.features.extend(other.features)
        self.class_ids.extend(other.class_ids)
        self.class_probs.extend(other.class_probs)
        self.thumbnails.extend(other.thumbnails)

    def take_chunk(self, start: int, backbone: BackboneInfo) -> Chunk:
        """Rows from ``start`` on, as a checkpoint chunk."""
        return Chunk(
            backbone=backbone,
            records=self.records[start:],
            skipped=[],
            features=np.stack(self.features[start:]).astype(np.float16),
            thumbnails=self.thumbnails[start:],
            class_ids=_stack_or_none(self.class_ids[start:]),
            class_probs=_stack_or_none(self.class_probs[start:]),
        )

    def sorted(self) -> Rows:
        """A copy in deterministic path order."""
        order = sorted(range(len(self)), key=lambda i: sort_key(self.records[i].path))
        return Rows(
            [self.records[i] for i in order],
            [self.features[i] for i in order],
            [self.class_ids[i] for i in order],
            [self.class_probs[i] for i in order],
            [self.thumbnails[i] for i in order],
        )

    def feature_matrix(self, dim: int) -> NDArray[np.float16]:
        """``(n, dim)`` float16 features."""
        if not self.features:
            return np.zeros((0, dim), dtype=np.float16)
        return np.stack(self.features).astype(np.float16)

    def classes(self) -> tuple[NDArray[np.int16], NDArray[np.float16]] | None:
        """Stacked top classes, or ``None`` when any row lacks them."""
        ids = _stack_or_none(self.class_ids)
        probs = _stack_or_none(self.class_probs)
        return None if ids is None or probs is None else (ids, probs)


def loaded_record(image: LoadedImage, root: Path) -> ImageRecord:
    """The index record of a freshly decoded image."""
    record = ImageRecord(
        path=record_path(image.path, root),
        size=image.size,
        mtime_ns=image.mtime_ns,
        sha256=image.sha256,
        width=image.width,
        height=image.height,
        sharpness=image.sharpness,
    )
    return with_capture(record, image.capture)


def with_capture(record: ImageRecord, capture: Capture) -> ImageRecord:
    """The same record with its capture facts."""
    return replace(
        record,
        taken=capture.taken,
        taken_source=capture.taken_source,
        camera=capture.camera,
        has_gps=capture.has_gps,
    )


def needs_capture(record: ImageRecord) -> bool:
    """Whether a record lacks capture facts (made before they were kept)."""
    return record.taken_source is None


def touched(record: ImageRecord, mtime_ns: int, root: Path) -> ImageRecord:
    """The same record with a new modification time (and a date from it, if that was its source)."""
    record = replace(record, mtime_ns=mtime_ns)
    if record.taken_source in (None, "mtime"):
        record = with_capture(record, read_capture(record_file(record, root), mtime_ns=mtime_ns))
    return record


def upgraded(record: ImageRecord, root: Path) -> ImageRecord:
    """A record of an older index with its capture facts read from the file's header."""
    if not needs_capture(record):
        return record
    return with_capture(record, read_capture(record_file(record, root), mtime_ns=record.mtime_ns))


def _stack_or_none(items: Sequence[NDArray[Any] | None]) -> NDArray[Any] | None:
    if not items or any(x is None for x in items):
        return None
    return np.stack([x for x in items if x is not None])
