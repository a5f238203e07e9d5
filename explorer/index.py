"""The on-disk index: manifest, arrays, metadata, lock and atomic writes.

Layout of an index folder (default ``./.explorer``)::

    manifest.json          schema, backbone, root, counts, and the names of the
                           current generation's files with their sizes and sha256
    images-<gen>.json      one record per indexed image, plus the skipped files
    features-<gen>.npy     (n, d) float16 raw backbone features
    vectors-<gen>.npy      (n, c) float32 unit PCA vectors (dot = cosine)
    pca-<gen>.npz          PCA mean / components / explained variance
    classes-<gen>.npz      top-5 ImageNet classes per image (when the backbone has them)
    thumbs-<gen>.bin       concatenated WebP thumbnails, offsets in thumbs-<gen>.npy
    analysis-<gen>.npz     clusters, 2-D map, neighbour graph (written by the report step)
    checkpoints/           chunks of an extraction in progress
    lock                   held (flock) by the process writing the index

A commit writes every file of a new generation, then replaces ``manifest.json``
atomically, then deletes files no manifest names. A crash at any point leaves
either the old or the new index, never a mix. Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer import faults
from explorer.backbones import BackboneInfo
from explorer.errors import IndexCorruptError, IndexLockedError, IndexMissingError
from explorer.progress import Progress
from explorer.search import Projection

SCHEMA_VERSION = 2
DEFAULT_INDEX_DIR = ".explorer"
MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints"
MB = 1_000_000
"""Unit of the ``saving index (MB)`` progress bar."""
_WRITE_SLICE = 1 << 23  # bytes written (and hashed) between two progress advances

"""``progress(label, total) -> advance(n)``, the hook of :mod:`explorer.pipeline`."""


@dataclass(frozen=True)
class ImageRecord:
    """One indexed image.

    ``path`` is relative to the index root (``/``-separated) for files under it,
    absolute otherwise; non-UTF-8 bytes are kept as surrogate escapes.
    """

    path: str
    size: int
    mtime_ns: int
    sha256: str
    width: int
    height: int
    sharpness: float | None = None  # variance of the Laplacian of the thumbnail; None: older index


@dataclass(frozen=True)
class SkipRecord:
    """A file that could not be indexed, and why."""

    path: str
    reason: str
    detail: str = ""


@dataclass
class Analysis:
    """Clusters, map and neighbour graph computed over the index vectors."""

    labels: NDArray[np.int32]
    centers: NDArray[np.float32]
    coords: NDArray[np.float32]
    neighbors: NDArray[np.int32]
    scores: NDArray[np.float32]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class IndexData:
    """Everything one generation of an index holds, in memory."""

    root: str
    backbone: BackboneInfo
    records: list[ImageRecord]
    skipped: list[SkipRecord]
    features: NDArray[np.float16]
    vectors: NDArray[np.float32]
    projection: Projection
    thumbnails: list[bytes]
    class_ids: NDArray[np.int16] | None = None
    class_probs: NDArray[np.float16] | None = None
    analysis: Analysis | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)


def default_index_path() -> Path:
    """``$EXPLORER_INDEX`` if set, else ``./.explorer``."""
    return Path(os.environ.get("EXPLORER_INDEX") or DEFAULT_INDEX_DIR)


def index_exists(path: Path) -> bool:
    """Whether a committed index lives at ``path``."""
    return (path / MANIFEST).is_file()


# ---------------------------------------------------------------- atomic files


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write a file atomically: temp file in the same folder, fsync, rename.

    On any error the temp file is removed and ``path`` is untouched.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            faults.point("write")  # a kill here leaves a full temp file, never renamed
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""

    def write(fh: io.BufferedWriter) -> None:
        fh.write(data)

    atomic_write(path, write)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _npy_bytes(array: NDArray[Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(**arrays: NDArray[Any]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


# ---------------------------------------------------------------- lock


@contextlib.contextmanager
def lock_index(path: Path, *, command: str) -> Iterator[None]:
    """Hold the index's writer lock for the duration of the block.

    The lock is an ``flock`` on ``<index>/lock``, so the kernel releases it when
    the holder dies: a lock left by a killed process never blocks anyone.

    Raises:
        IndexLockedError: If another process holds it (names that process).
    """
    path.mkdir(parents=True, exist_ok=True)
    lock_path = path / "lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_path.read_text(errors="replace").strip() or "another process"
            raise IndexLockedError(
                f"the index at {path} is being written by {holder}; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} ({command}, since {time.strftime('%H:%M:%S')})".encode())
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------- save


def save_index(path: Path, data: IndexData, *, progress: Progress | None = None) -> None:
    """Commit ``data`` as the index's new generation, atomically.

    Args:
        path: The index folder (created if missing).
        data: The generation to write.
        progress: Progress hook; one bar, ``saving index (MB)``, counting the
            megabytes written (and hashed) of the generation's files.

    Raises:
        OSError: If a file cannot be written; the previous index stays intact.
    """
    path.mkdir(parents=True, exist_ok=True)
    gen = f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
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
        "features": _npy_bytes(data.features.astype(np.float16, copy=False)),
        "vectors": _npy_bytes(data.vectors.astype(np.float32, copy=False)),
        "pca": _npz_bytes(
            mean=data.projection.mean,
            components=data.projection.components,
            explained_variance_ratio=data.projection.explained_variance_ratio,
        ),
        "thumbs": blob,
        "thumb_offsets": _npy_bytes(offsets),
    }
    if data.class_ids is not None and data.class_probs is not None:
        payloads["classes"] = _npz_bytes(ids=data.class_ids, probs=data.class_probs)
    if data.analysis is not None:
        a = data.analysis
        payloads["analysis"] = _npz_bytes(
            labels=a.labels,
            centers=a.centers,
            coords=a.coords,
            neighbors=a.neighbors,
            scores=a.scores,
        )
    suffix = {"images": "json", "thumbs": "bin", "pca": "npz", "classes": "npz", "analysis": "npz"}
    files: dict[str, dict[str, Any]] = {}
    meter = _Megabytes(progress, sum(len(p) for p in payloads.values()))
    for key, payload in payloads.items():
        name = f"{key}-{gen}.{suffix.get(key, 'npy')}"
        digest = _write_hashed(path / name, payload, meter.add)
        files[key] = {"name": name, "bytes": len(payload), "sha256": digest}
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
    atomic_write_bytes(path / MANIFEST, _manifest_bytes(manifest))
    faults.point("committed")
    _remove_unreferenced(path, {f["name"] for f in files.values()})


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

    def write(fh: io.BufferedWriter) -> None:
        view = memoryview(payload)
        for start in range(0, len(view), _WRITE_SLICE):
            part = view[start : start + _WRITE_SLICE]
            fh.write(part)
            digest.update(part)
            written(len(part))

    atomic_write(path, write)
    return digest.hexdigest()


def save_analysis(path: Path, analysis: Analysis) -> None:
    """Replace only the analysis of the committed index (atomically, via the manifest).

    Raises:
        IndexMissingError: No index at ``path``.
    """
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise IndexMissingError(f"no index at {path}")
    manifest = json.loads(manifest_path.read_bytes())
    a = analysis
    payload = _npz_bytes(
        labels=a.labels, centers=a.centers, coords=a.coords, neighbors=a.neighbors, scores=a.scores
    )
    name = f"analysis-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}.npz"
    atomic_write_bytes(path / name, payload)
    manifest["files"]["analysis"] = {"name": name, "bytes": len(payload), "sha256": _sha(payload)}
    manifest["analysis"] = a.info
    atomic_write_bytes(manifest_path, _manifest_bytes(manifest))
    _remove_unreferenced(path, {str(f["name"]) for f in manifest["files"].values()})


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as JSON, sealed with the sha256 of its own content."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return json.dumps({**body, "checksum": _manifest_digest(body)}, indent=1).encode()


def _manifest_digest(body: dict[str, Any]) -> str:
    return _sha(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def _remove_unreferenced(path: Path, keep: set[str]) -> None:
    for entry in path.iterdir():
        name = entry.name
        stale = (name.startswith(".") and ".tmp-" in name) or (
            entry.is_file() and "-" in name and name not in keep and name != MANIFEST
        )
        if stale and name != "lock":
            with contextlib.suppress(OSError):
                entry.unlink()


def _all_finite(array: NDArray[Any], *, rows: int = 8192) -> bool:
    """``isfinite`` in blocks of rows, so a memory-mapped array is never copied whole."""
    flat = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
    return all(bool(np.isfinite(flat[i : i + rows]).all()) for i in range(0, flat.shape[0], rows))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- load


class Index:
    """A committed index, opened read-only; large arrays are memory-mapped."""

    def __init__(self, path: Path) -> None:
        """Open the index at ``path``.

        Raises:
            IndexMissingError: No index there.
            IndexCorruptError: The manifest or a file it names is damaged or foreign.
        """
        self.path = path
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise IndexMissingError(
                f"no index at {path}; create one with 'explorer build FOLDER'"
                + (" (or pass --index PATH)" if "EXPLORER_INDEX" not in os.environ else "")
            )
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_bytes())
            schema = int(self.manifest["schema"])
        except (ValueError, KeyError, TypeError) as exc:
            raise self._corrupt(MANIFEST, f"unreadable manifest ({exc})") from exc
        if schema > SCHEMA_VERSION:
            raise IndexCorruptError(
                f"index file {manifest_path} has schema version {schema}, newer than this "
                f"explorer understands ({SCHEMA_VERSION}); upgrade explorer, or rebuild with "
                f"'explorer build FOLDER --fresh --index {path}'"
            )
        checksum = self.manifest.pop("checksum", None)
        legacy = checksum is None and schema < 2  # written before manifests were sealed
        if not legacy and checksum != _manifest_digest(self.manifest):
            why = "no checksum" if checksum is None else "checksum mismatch"
            raise self._corrupt(MANIFEST, why)
        try:
            self.backbone = BackboneInfo.from_json(self.manifest["backbone"])
            self.root: str = str(self.manifest["root"])
            self._files: dict[str, dict[str, Any]] = dict(self.manifest["files"])
        except (ValueError, KeyError, TypeError) as exc:
            raise self._corrupt(MANIFEST, f"unreadable manifest ({exc})") from exc
        for key, info in self._files.items():
            file = path / str(info["name"])
            if not file.is_file() or file.stat().st_size != int(info["bytes"]):
                raise self._corrupt(
                    str(info["name"]), f"{key} file is missing or has the wrong size"
                )
        self.features = self._npy("features", mmap=True)
        self.vectors = self._npy("vectors", mmap=True)
        # Open every other file now: a writer may replace this generation at any
        # moment, and an open file stays readable after it is unlinked.
        self._handles: dict[str, io.BufferedReader] = {}
        for key in self._files:
            if key not in ("features", "vectors"):
                try:
                    self._handles[key] = open(path / self._name(key), "rb")  # noqa: SIM115
                except OSError as exc:
                    raise self._corrupt(self._name(key), str(exc)) from exc
        try:
            images = json.loads(self._read("images"))
            self.records = [ImageRecord(**r) for r in images["records"]]
            self.skipped = [SkipRecord(**s) for s in images["skipped"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise self._corrupt(self._name("images"), f"bad image records ({exc})") from exc
        self.features = self._npy("features", mmap=True)
        self._verify_file("vectors")  # every query reads them: never answer from damaged ones
        self.vectors = self._npy("vectors", mmap=True)
        n = len(self.records)
        if self.features.shape[0] != n or self.vectors.shape[0] != n:
            raise self._corrupt(self._name("vectors"), "row count differs from image records")

    def __len__(self) -> int:
        return len(self.records)

    def close(self) -> None:
        """Close the open file handles (memory maps close with their arrays)."""
        for handle in getattr(self, "_handles", {}).values():
            handle.close()
        self._handles = {}

    def __del__(self) -> None:
        self.close()

    def _name(self, key: str) -> str:
        return str(self._files[key]["name"])

    def _corrupt(self, name: str, why: str) -> IndexCorruptError:
        return IndexCorruptError(
            f"index file {self.path / name} is damaged: {why}. Rebuild with "
            f"'explorer build FOLDER --fresh --index {self.path}'"
        )

    def _source(self, key: str) -> Any:
        handle = getattr(self, "_handles", {}).get(key)
        if handle is None:
            return self.path / self._name(key)
        handle.seek(0)
        return handle

    def _read(self, key: str) -> bytes:
        """A file's bytes, checked against the manifest's sha256."""
        try:
            source = self._source(key)
            data = bytes(source.read() if hasattr(source, "read") else source.read_bytes())
        except OSError as exc:
            raise self._corrupt(self._name(key), str(exc)) from exc
        if _sha(data) != self._files[key]["sha256"]:
            raise self._corrupt(self._name(key), "checksum mismatch")
        return data

    def _digest(self, key: str) -> str:
        """Stream a file through sha256, never holding it whole in memory."""
        digest = hashlib.sha256()
        with open(self.path / self._name(key), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        return digest.hexdigest()

    def _verify_file(self, key: str) -> None:
        """Stream a (memory-mapped) file through sha256 and compare with the manifest."""
        try:
            digest = self._digest(key)
        except OSError as exc:
            raise self._corrupt(self._name(key), str(exc)) from exc
        if digest != self._files[key]["sha256"]:
            raise self._corrupt(self._name(key), "checksum mismatch")

    def verify_features(self) -> None:
        """Check the raw features' checksum (done before they are copied into a new index).

        Raises:
            IndexCorruptError: If they differ from what the manifest recorded.
        """
        self._verify_file("features")

    def _npy(self, key: str, *, mmap: bool = False) -> NDArray[Any]:
        try:
            source = self.path / self._name(key) if mmap else io.BytesIO(self._read(key))
            array: NDArray[Any] = np.load(
                source, mmap_mode="r" if mmap else None, allow_pickle=False
            )
            return array
        except (ValueError, OSError, EOFError) as exc:
            raise self._corrupt(self._name(key), f"not a valid array ({exc})") from exc

    def _npz(self, key: str) -> dict[str, NDArray[Any]]:
        try:
            with np.load(io.BytesIO(self._read(key)), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, KeyError) as exc:
            raise self._corrupt(self._name(key), f"not a valid array archive ({exc})") from exc

    def projection(self) -> Projection:
        """The stored PCA."""
        z = self._npz("pca")
        return Projection(
            z["mean"].astype(np.float32),
            z["components"].astype(np.float32),
            z["explained_variance_ratio"].astype(np.float32),
        )

    def thumbnails(self) -> list[bytes]:
        """Every image's WebP thumbnail, in row order."""
        blob = self._read("thumbs")
        offsets = self._npy("thumb_offsets")
        return [blob[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]

    def classes(self) -> tuple[NDArray[np.int16], NDArray[np.float16]] | None:
        """Top ImageNet classes per image, when the backbone produced them."""
        if "classes" not in self._files:
            return None
        z = self._npz("classes")
        return z["ids"], z["probs"]

    def analysis(self) -> Analysis | None:
        """The stored clusters / map / graph, when they match the current rows."""
        if "analysis" not in self._files or not self.manifest.get("analysis"):
            return None
        z = self._npz("analysis")
        if z["labels"].shape[0] != len(self):
            return None
        return Analysis(
            z["labels"],
            z["centers"],
            z["coords"],
            z["neighbors"],
            z["scores"],
            dict(self.manifest["analysis"]),
        )

    def load(self) -> IndexData:
        """Read the whole generation into memory (for rewriting it)."""
        self.verify_features()
        classes = self.classes()
        return IndexData(
            root=self.root,
            backbone=self.backbone,
            records=list(self.records),
            skipped=list(self.skipped),
            features=np.asarray(self.features),
            vectors=np.asarray(self.vectors),
            projection=self.projection(),
            thumbnails=self.thumbnails(),
            class_ids=classes[0] if classes else None,
            class_probs=classes[1] if classes else None,
            analysis=self.analysis(),
            meta=dict(self.manifest.get("meta") or {}),
        )

    def verify(self) -> list[str]:
        """Check every file's checksum and the arrays' shapes and values.

        Returns:
            A list of problems, each naming its file; empty when the index is sound.
        """
        problems: list[str] = []
        for key, info in self._files.items():
            try:
                if self._digest(key) != info["sha256"]:
                    problems.append(f"{info['name']}: checksum mismatch ({key})")
            except OSError as exc:
                problems.append(f"{info['name']}: unreadable ({exc})")
        if problems:
            return problems  # shapes and values of damaged files mean nothing
        n, dim = len(self), self.backbone.dim
        pca = self.projection()
        checks: list[tuple[str, Callable[[], Any], tuple[int | None, ...]]] = [
            ("features", lambda: self.features, (n, dim)),
            ("vectors", lambda: self.vectors, (n, pca.n_components)),
            ("pca", lambda: pca.components, (None, dim)),
        ]
        if "thumb_offsets" in self._files:
            checks.append(("thumb_offsets", lambda: self._npy("thumb_offsets"), (n + 1,)))
        if "classes" in self._files:
            checks.append(("classes", lambda: self._npz("classes")["probs"], (n, None)))
        for key, get, shape in checks:
            try:
                array = get()
            except IndexCorruptError as exc:
                problems.append(str(exc))
                continue
            name = self._name(key)
            if array.ndim != len(shape) or any(
                want not in (None, got) for got, want in zip(array.shape, shape, strict=True)
            ):
                wanted = "x".join("?" if w is None else str(w) for w in shape)
                problems.append(f"{name}: shape {array.shape}, expected {wanted}")
            elif array.dtype.kind == "f" and not _all_finite(array):
                problems.append(f"{name}: contains NaN or infinity")
        return problems
