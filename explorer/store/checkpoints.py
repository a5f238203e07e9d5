"""Checkpoint chunks: extraction results saved while a build or add runs.

Every few batches the extracted rows are written as one ``.npz`` chunk under
``<index>/checkpoints/``, atomically. A run that is interrupted (Ctrl-C, kill,
power loss) leaves its chunks; the next run reuses every row whose file is
unchanged and extracts only the rest. A commit deletes the chunks it absorbed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from explorer import faults
from explorer.features.base import BackboneInfo
from explorer.fs import atomic_write_bytes
from explorer.store.arrays import npz_bytes
from explorer.store.folder import CHECKPOINTS, is_temp_name, read_bytes, remove_file, subfolder
from explorer.store.manifest import from_json, list_from_json, load_json
from explorer.store.records import ImageRecord, SkipRecord

CHUNK_NAME = re.compile(r"chunk-\d{20}\.npz")
JOURNAL = "decoding.log"

log = logging.getLogger(__name__)


@dataclass
class Chunk:
    """Rows extracted together, with the backbone (and weights) that made them."""

    backbone: BackboneInfo
    records: list[ImageRecord]
    skipped: list[SkipRecord]
    features: NDArray[np.float16]
    thumbnails: list[bytes]
    class_ids: NDArray[np.int16] | None = None
    class_probs: NDArray[np.float16] | None = None


def write_chunk(index_path: Path, chunk: Chunk) -> Path:
    """Save one chunk atomically and return its path."""
    folder = subfolder(index_path, CHECKPOINTS)
    assert folder is not None
    meta = {
        "backbone": chunk.backbone.to_json(),
        "records": [asdict(r) for r in chunk.records],
        "skipped": [asdict(s) for s in chunk.skipped],
    }
    offsets = np.zeros(len(chunk.thumbnails) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in chunk.thumbnails], dtype=np.int64)
    arrays: dict[str, NDArray[np.generic]] = {
        "meta": np.frombuffer(json.dumps(meta, ensure_ascii=True).encode(), dtype=np.uint8),
        "features": chunk.features.astype(np.float16, copy=False),
        "thumbs": np.frombuffer(b"".join(chunk.thumbnails), dtype=np.uint8),
        "thumb_offsets": offsets,
    }
    if chunk.class_ids is not None and chunk.class_probs is not None:
        arrays["class_ids"] = chunk.class_ids
        arrays["class_probs"] = chunk.class_probs
    path = folder / f"chunk-{time.time_ns():020d}.npz"
    atomic_write_bytes(path, npz_bytes(**arrays))
    faults.point("chunk")
    return path


def read_chunks(index_path: Path) -> list[Chunk]:
    """Load every readable chunk, oldest first.

    A chunk is untrusted input like every index file: one that is damaged in
    any way (flipped bytes, garbage, inconsistent rows) is deleted with a
    warning, and its images are extracted again.

    Raises:
        UnsafeIndexError: ``checkpoints`` or a chunk is a symlink.
    """
    folder = subfolder(index_path, CHECKPOINTS, create=False)
    if folder is None:
        return []
    chunks = []
    for name in sorted(n for n in os.listdir(folder) if CHUNK_NAME.fullmatch(n)):
        path = folder / name
        data = read_bytes(path)
        try:
            chunks.append(_read_chunk(data))
        except Exception as exc:  # BadZipFile, zlib.error, ValueError, ...: drop it
            log.warning("ignoring damaged checkpoint %s (%s)", name, exc)
            remove_file(path)
    return chunks


def checkpoint_backbone(index_path: Path) -> BackboneInfo | None:
    """The backbone of the oldest readable chunk (an interrupted run's), without its arrays."""
    folder = subfolder(index_path, CHECKPOINTS, create=False)
    if folder is None:
        return None
    for name in sorted(n for n in os.listdir(folder) if CHUNK_NAME.fullmatch(n)):
        try:
            with np.load(io.BytesIO(read_bytes(folder / name)), allow_pickle=False) as z:
                meta = load_json(z["meta"].tobytes())
            return from_json(BackboneInfo, meta.get("backbone"), where="backbone")
        except Exception:  # a damaged chunk: the next one may tell; read_chunks drops it
            continue
    return None


def _read_chunk(data: bytes) -> Chunk:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = load_json(z["meta"].tobytes())
        blob = z["thumbs"].tobytes()
        offsets = z["thumb_offsets"]
        records = list_from_json(ImageRecord, meta.get("records"), where="records")
        backbone = from_json(BackboneInfo, meta.get("backbone"), where="backbone")
        features = z["features"]
        if features.ndim != 2 or features.shape != (len(records), backbone.dim):
            raise ValueError(f"features of shape {features.shape} for {len(records)} rows")
        if features.dtype.kind != "f" or not bool(np.isfinite(features).all()):
            raise ValueError("features hold NaN or infinity")
        if offsets.shape != (len(records) + 1,) or offsets.dtype.kind not in "iu":
            raise ValueError("row counts disagree")
        if len(offsets) and (
            offsets[0] != 0 or offsets[-1] != len(blob) or (np.diff(offsets) < 0).any()
        ):
            raise ValueError("thumbnail offsets do not fit")
        class_ids = z["class_ids"] if "class_ids" in z.files else None
        class_probs = z["class_probs"] if "class_probs" in z.files else None
        for array in (class_ids, class_probs):
            if array is not None and (array.ndim != 2 or array.shape[0] != len(records)):
                raise ValueError("class arrays of the wrong shape")
        return Chunk(
            backbone=backbone,
            records=records,
            skipped=list_from_json(SkipRecord, meta.get("skipped"), where="skipped"),
            features=features,
            thumbnails=[blob[offsets[i] : offsets[i + 1]] for i in range(len(records))],
            class_ids=class_ids,
            class_probs=class_probs,
        )


def clear_chunks(index_path: Path) -> None:
    """Delete the checkpoint chunks and the decoding journal (after a commit absorbed them).

    Only names checkpoints write are deleted; a ``checkpoints`` that is a
    symlink is refused, never followed.
    """
    folder = subfolder(index_path, CHECKPOINTS, create=False)
    if folder is None:
        return
    # the folder is opened once, without following a link, and every name is
    # deleted relative to it: swapping it for a link now changes nothing
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in os.listdir(fd):
            bare = name[1:].split(".tmp-")[0] if is_temp_name(name) else name
            if CHUNK_NAME.fullmatch(bare) or bare == JOURNAL:
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                    os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(folder)  # fails when something else lives there: then it stays
