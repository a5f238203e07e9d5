"""Committing an index: a new generation, or a new analysis of the current one.

A commit writes every file of a new generation (``<key>-<generation>.<ext>``,
each through :func:`explorer.fs.atomic_write` and hashed on the way), then
replaces ``manifest.json`` atomically, then deletes files no manifest names.
A crash at any point leaves either the old or the new index, never a mix; a
full disk leaves the previous index intact and removes the new files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from explorer import faults
from explorer.errors import DiskFullError
from explorer.fs import atomic_write, sha256_hex
from explorer.progress import Progress
from explorer.store.arrays import npy_bytes, npz_bytes
from explorer.store.folder import (
    GENERATION_NAME,
    claim_folder,
    is_own_name,
    is_temp_name,
    remove_file,
)
from explorer.store.index import Index
from explorer.store.manifest import FILE_SUFFIX, MANIFEST, SCHEMA_VERSION, seal_manifest
from explorer.store.records import Analysis, IndexData

log = logging.getLogger(__name__)

MB = 1_000_000
"""Unit of the ``saving index (MB)`` progress bar."""
_WRITE_SLICE = 1 << 23  # bytes written (and hashed) between two progress advances


def save_index(path: Path, data: IndexData, *, progress: Progress | None = None) -> None:
    """Commit ``data`` as the index's new generation, atomically.

    Args:
        path: The index folder (created and marked if missing; see
            :func:`explorer.store.folder.claim_folder`).
        data: The generation to write.
        progress: Progress hook; one bar, ``saving index (MB)``, counting the
            megabytes written (and hashed) of the generation's files.

    Raises:
        DiskFullError: The disk filled up; the previous index (if any) stays
            intact and this generation's files are removed.
        OSError: If a file cannot be written; the previous index stays intact.
        UnsafeIndexError: ``path`` is not an index folder.
    """
    claim_folder(path)
    had_index = (path / MANIFEST).is_file()
    gen = _generation()
    n = len(data.records)
    blob = b"".join(data.thumbnails)
    offsets = np.zeros(n + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in data.thumbnails], dtype=np.int64)
    payloads: dict[str, bytes] = {
        "images": json.dumps(
            {
                "records": [asdict(r) for r in data.records],
                "skipped": [asdict(s) for s in data.skipped],
            },
            ensure_ascii=True,
        ).encode(),
        "features": npy_bytes(data.features.astype(np.float16, copy=False)),
        "vectors": npy_bytes(data.vectors.astype(np.float32, copy=False)),
        "pca": npz_bytes(
            mean=data.projection.mean,
            components=data.projection.components,
            explained_variance_ratio=data.projection.explained_variance_ratio,
        ),
        "thumbs": blob,
        "thumb_offsets": npy_bytes(offsets),
    }
    if data.class_ids is not None and data.class_probs is not None:
        payloads["classes"] = npz_bytes(ids=data.class_ids, probs=data.class_probs)
    if data.analysis is not None:
        payloads["analysis"] = _analysis_bytes(data.analysis)
    files: dict[str, dict[str, Any]] = {}
    meter = _Megabytes(progress, sum(len(p) for p in payloads.values()))
    try:
        for key, payload in payloads.items():
            name = f"{key}-{gen}.{FILE_SUFFIX.get(key, 'npy')}"
            files[key] = {"name": name, "bytes": len(payload), "sha256": ""}
            files[key]["sha256"] = _write_hashed(path / name, payload, meter.add)
        meter.finish()
        manifest = {
            "schema": SCHEMA_VERSION,
            "generation": gen,
            "root": data.root,
            "backbone": data.backbone.to_json(),
            "count": n,
            "dim": int(data.features.shape[1]) if n else data.backbone.dim,
            "pca_components": data.projection.n_components,
            "analysis": data.analysis.info if data.analysis is not None else None,
            "meta": data.meta,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": files,
        }
        faults.point("commit")
        _write_bytes(path / MANIFEST, seal_manifest(manifest))
    except BaseException as exc:
        for info in files.values():  # this generation never became current: drop its files
            remove_file(path / str(info["name"]))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise _disk_full(path, had_index, exc) from exc
        raise
    faults.point("committed")
    _remove_unreferenced(path, {f["name"] for f in files.values()})


def _generation() -> str:
    return f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


def _disk_full(path: Path, had_index: bool, exc: OSError) -> DiskFullError:
    state = (
        "the previous index is intact"
        if had_index
        else "no index was written (checkpoints are kept: run the same command once there is room)"
    )
    return DiskFullError(f"disk full while writing the index at {path} ({exc.strerror}); {state}")


def _write_bytes(path: Path, data: bytes) -> None:
    """The index's own writes of whole payloads, through :func:`atomic_write`."""

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    atomic_write(path, write)


def _analysis_bytes(a: Analysis) -> bytes:
    return npz_bytes(
        labels=a.labels,
        centers=a.centers,
        coords=a.coords,
        neighbors=a.neighbors,
        scores=a.scores,
    )


class _Megabytes:
    """Turns bytes written into whole-megabyte advances of a ``saving index (MB)`` bar."""

    def __init__(self, progress: Progress | None, total_bytes: int) -> None:
        self.total = max(1, -(-total_bytes // MB))
        self._advance = progress("saving index (MB)", self.total) if progress else None
        self._bytes = 0
        self._shown = 0

    def add(self, n: int) -> None:
        """Count ``n`` more bytes written."""
        self._bytes += n
        self._show(min(self.total, self._bytes // MB))

    def finish(self) -> None:
        """Fill the bar (the last, partial megabyte)."""
        self._show(self.total)

    def _show(self, done: int) -> None:
        if self._advance is not None and done > self._shown:
            self._advance(done - self._shown)
            self._shown = done


def _write_hashed(path: Path, payload: bytes, written: Callable[[int], None]) -> str:
    """Atomically write ``payload`` slice by slice, hashing it on the way.

    Returns:
        The payload's sha256, in hex.
    """
    digest = hashlib.sha256()

    def write(fh: BinaryIO) -> None:
        view = memoryview(payload)
        for start in range(0, len(view), _WRITE_SLICE):
            part = view[start : start + _WRITE_SLICE]
            fh.write(part)
            digest.update(part)
            written(len(part))

    atomic_write(path, write)
    return digest.hexdigest()


def save_analysis(path: Path, analysis: Analysis) -> bool:
    """Replace only the analysis of the committed index (atomically, via the manifest).

    The caller holds the writer lock. An analysis of another generation than
    the current one (a build committed while it was computed) is not stored.

    Returns:
        Whether it was stored.

    Raises:
        IndexMissingError: No index at ``path``.
        IndexCorruptError: The manifest is damaged.
        DiskFullError: The disk filled up; the index stays as it was.
    """
    index = Index(path)
    try:
        manifest = dict(index.manifest)
        current = index.manifest.get("generation")
        rows = len(index)
    finally:
        index.close()
    made_for = analysis.info.get("generation", current)
    if made_for != current or analysis.labels.shape[0] != rows:
        log.info("not storing an analysis of generation %s: the index changed meanwhile", made_for)
        return False
    payload = _analysis_bytes(analysis)
    name = f"analysis-{_generation()}.npz"
    files = {k: dict(v) for k, v in manifest["files"].items()}
    try:
        _write_bytes(path / name, payload)
        files["analysis"] = {"name": name, "bytes": len(payload), "sha256": sha256_hex(payload)}
        manifest["files"] = files
        manifest["analysis"] = analysis.info
        _write_bytes(path / MANIFEST, seal_manifest(manifest))
    except BaseException as exc:
        remove_file(path / name)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise _disk_full(path, True, exc) from exc
        raise
    _remove_unreferenced(path, {str(f["name"]) for f in files.values()})
    return True


def _remove_unreferenced(path: Path, keep: set[str]) -> None:
    """Delete old generations' files and stray temp files: only names the index writes."""
    for name in os.listdir(path):
        if name in keep:
            continue
        if (is_temp_name(name) and is_own_name(name)) or GENERATION_NAME.fullmatch(name):
            remove_file(path / name)
