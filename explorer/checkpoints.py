"""Checkpoint chunks: extraction results saved while a build or add runs.

Every few batches the extracted rows are written as one ``.npz`` chunk under
``<index>/checkpoints/``, atomically. A run that is interrupted (Ctrl-C, kill,
power loss) leaves its chunks; the next run reuses every row whose file is
unchanged and extracts only the rest. A commit deletes the chunks it absorbed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from explorer import faults
from explorer.backbones import BackboneInfo
from explorer.index import CHECKPOINTS, ImageRecord, SkipRecord, _npz_bytes, atomic_write_bytes

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
    folder = index_path / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
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
    atomic_write_bytes(path, _npz_bytes(**arrays))
    faults.point("chunk")
    return path


def read_chunks(index_path: Path) -> list[Chunk]:
    """Load every readable chunk, oldest first; damaged ones are dropped with a warning."""
    folder = index_path / CHECKPOINTS
    if not folder.is_dir():
        return []
    chunks = []
    for path in sorted(folder.glob("chunk-*.npz")):
        try:
            chunks.append(_read_chunk(path))
        except (ValueError, OSError, EOFError, KeyError, TypeError) as exc:
            log.warning("ignoring damaged checkpoint %s (%s)", path.name, exc)
            with contextlib.suppress(OSError):
                path.unlink()
    return chunks


def checkpoint_backbone(index_path: Path) -> BackboneInfo | None:
    """The backbone of the oldest readable chunk (an interrupted run's), without its arrays."""
    folder = index_path / CHECKPOINTS
    for path in sorted(folder.glob("chunk-*.npz")) if folder.is_dir() else []:
        try:
            with np.load(path, allow_pickle=False) as z:
                return BackboneInfo.from_json(json.loads(z["meta"].tobytes())["backbone"])
        except (ValueError, OSError, EOFError, KeyError, TypeError):
            continue
    return None


def _read_chunk(path: Path) -> Chunk:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes())
        blob = z["thumbs"].tobytes()
        offsets = z["thumb_offsets"]
        records = [ImageRecord(**r) for r in meta["records"]]
        features = z["features"]
        if features.shape[0] != len(records) or len(offsets) != len(records) + 1:
            raise ValueError("row counts disagree")
        return Chunk(
            backbone=BackboneInfo.from_json(meta["backbone"]),
            records=records,
            skipped=[SkipRecord(**s) for s in meta["skipped"]],
            features=features,
            thumbnails=[blob[offsets[i] : offsets[i + 1]] for i in range(len(records))],
            class_ids=z["class_ids"] if "class_ids" in z.files else None,
            class_probs=z["class_probs"] if "class_probs" in z.files else None,
        )


def clear_chunks(index_path: Path) -> None:
    """Delete all checkpoint chunks (after a commit absorbed them)."""
    folder = index_path / CHECKPOINTS
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
