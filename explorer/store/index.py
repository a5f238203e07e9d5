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
    explorer-index         the marker that makes the folder recognisable as an index

Files are opened, written and deleted only through :mod:`explorer.store.folder`
(no symlink followed, only the index's own names deleted).

A commit writes every file of a new generation, then replaces ``manifest.json``
atomically, then deletes files no manifest names. A crash at any point leaves
either the old or the new index, never a mix. Nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from explorer import faults
from explorer.analysis.pca import Projection
from explorer.errors import DiskFullError, IndexCorruptError, IndexMissingError
from explorer.features.backbones import BackboneInfo
from explorer.progress import Progress
from explorer.store.folder import (
    CHECKPOINTS,
    GENERATION_NAME,
    atomic_write,
    atomic_write_bytes,
    claim_folder,
    is_own_name,
    is_temp_name,
    lock_index,
    open_read,
    read_bytes,
    remove_file,
)
from explorer.store.manifest import FILE_SUFFIX, Manifest, list_from_json, load_json, parse_manifest

__all__ = [
    "CHECKPOINTS",
    "Analysis",
    "ImageRecord",
    "Index",
    "IndexData",
    "SkipRecord",
    "atomic_write",
    "atomic_write_bytes",
    "lock_index",
    "save_analysis",
    "save_index",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DEFAULT_INDEX_DIR = ".explorer"
MANIFEST = "manifest.json"
_OPEN_RETRIES = 8  # a reader that meets a commit re-reads the manifest this many times
MB = 1_000_000
"""Unit of the ``saving index (MB)`` progress bar."""
_WRITE_SLICE = 1 << 23  # bytes written (and hashed) between two progress advances

"""``progress(label, total) -> advance(n)``, the hook of :mod:`explorer.jobs.build`."""


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
    # Capture facts (explorer.inputs.capture); optional so that older indexes load.
    # ``taken_source`` None: not read yet (the next build reads the header).
    taken: str | None = None
    taken_source: str | None = None
    camera: str | None = None
    has_gps: bool = False
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


# ---------------------------------------------------------------- files


def _npy_bytes(array: NDArray[Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(**arrays: NDArray[Any]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


# ---------------------------------------------------------------- save


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
        _write_bytes(path / MANIFEST, _manifest_bytes(manifest))
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

    def write(fh: io.BufferedWriter) -> None:
        fh.write(data)

    atomic_write(path, write)


def _analysis_bytes(a: Analysis) -> bytes:
    return _npz_bytes(
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

    def write(fh: io.BufferedWriter) -> None:
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
        files["analysis"] = {"name": name, "bytes": len(payload), "sha256": _sha(payload)}
        manifest["files"] = files
        manifest["analysis"] = analysis.info
        _write_bytes(path / MANIFEST, _manifest_bytes(manifest))
    except BaseException as exc:
        remove_file(path / name)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise _disk_full(path, True, exc) from exc
        raise
    _remove_unreferenced(path, {str(f["name"]) for f in files.values()})
    return True


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as JSON, sealed with the sha256 of its own content."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return json.dumps({**body, "checksum": _manifest_digest(body)}, indent=1).encode()


def _manifest_digest(body: dict[str, Any]) -> str:
    return _sha(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def _remove_unreferenced(path: Path, keep: set[str]) -> None:
    """Delete old generations' files and stray temp files: only names the index writes."""
    for name in os.listdir(path):
        if name in keep:
            continue
        if (is_temp_name(name) and is_own_name(name)) or GENERATION_NAME.fullmatch(name):
            remove_file(path / name)


def _all_finite(array: NDArray[Any], *, rows: int = 8192) -> bool:
    """``isfinite`` in blocks of rows, so a memory-mapped array is never copied whole."""
    flat = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
    return all(bool(np.isfinite(flat[i : i + rows]).all()) for i in range(0, flat.shape[0], rows))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- load


class _Moved(Exception):
    """A file the manifest named is gone: a commit may have replaced the generation."""


class Index:
    """A committed index, opened read-only; large arrays are memory-mapped.

    Every file of the generation is opened once, at open time, without
    following symlinks; a writer may replace the generation at any moment, and
    an open file stays readable after it is unlinked. A reader that meets a
    commit between reading the manifest and opening its files reads the new
    manifest and tries again: it sees the old or the new generation, never an
    error.
    """

    def __init__(self, path: Path) -> None:
        """Open the index at ``path``.

        Raises:
            IndexMissingError: No index there.
            IndexCorruptError: The manifest or a file it names is damaged or foreign.
            UnsafeIndexError: A file of the index is a symlink or not a regular file.
        """
        self.path = path
        self._handles: dict[str, BinaryIO] = {}
        for attempt in range(_OPEN_RETRIES):
            raw = self._read_manifest()
            try:
                self._open(raw)
                return
            except _Moved as exc:
                self.close()
                if attempt == _OPEN_RETRIES - 1 or self._manifest_bytes_now() == raw:
                    name = str(exc)
                    raise self._corrupt(name, "file is missing") from None
                time.sleep(0.01 * (attempt + 1))
            except BaseException:
                self.close()
                raise

    def _manifest_bytes_now(self) -> bytes | None:
        try:
            return read_bytes(self.path / MANIFEST)
        except OSError:
            return None

    def _read_manifest(self) -> bytes:
        manifest_path = self.path / MANIFEST
        try:
            return read_bytes(manifest_path)
        except FileNotFoundError:
            raise IndexMissingError(
                f"no index at {self.path}; create one with 'explorer build FOLDER'"
                + (" (or pass --index PATH)" if "EXPLORER_INDEX" not in os.environ else "")
            ) from None
        except OSError as exc:
            if isinstance(exc, NotADirectoryError):
                raise IndexMissingError(f"no index at {self.path}: not a folder") from None
            raise self._corrupt(MANIFEST, f"unreadable ({exc.strerror})") from exc

    def _open(self, raw: bytes) -> None:
        path = self.path
        try:
            manifest = load_json(raw)
        except ValueError as exc:
            raise self._corrupt(MANIFEST, f"unreadable manifest ({exc})") from exc
        schema = manifest.get("schema")
        if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA_VERSION:
            raise IndexCorruptError(
                f"index file {path / MANIFEST} has schema version {schema}, newer than this "
                f"explorer understands ({SCHEMA_VERSION}); upgrade explorer, or rebuild with "
                f"'explorer build FOLDER --fresh --index {path}'"
            )
        checksum = manifest.pop("checksum", None)
        self.sealed = checksum is not None
        legacy = checksum is None and schema == 1  # written before manifests were sealed
        if not legacy and checksum != _manifest_digest(manifest):
            why = "no checksum" if checksum is None else "checksum mismatch"
            raise self._corrupt(MANIFEST, why)
        try:
            self.parsed: Manifest = parse_manifest(manifest)
            self.backbone = BackboneInfo.from_json(manifest["backbone"])
        except (ValueError, KeyError, TypeError) as exc:
            raise self._corrupt(MANIFEST, f"unreadable manifest ({exc})") from exc
        if self.backbone.dim != self.parsed.dim and self.parsed.count:
            raise self._corrupt(MANIFEST, "feature width differs from the backbone's")
        self.manifest: dict[str, Any] = manifest
        self.root: str = self.parsed.root
        self._files: dict[str, dict[str, Any]] = {
            k: asdict(v) for k, v in self.parsed.files.items()
        }
        # Open every file now, before anything is read: a missing one means a
        # commit replaced this generation (retried) or damage.
        for key, info in self.parsed.files.items():
            try:
                handle = open_read(path / info.name)
            except FileNotFoundError:
                raise _Moved(info.name) from None
            except OSError as exc:
                raise self._corrupt(info.name, str(exc.strerror or exc)) from exc
            self._handles[key] = handle
            if os.fstat(handle.fileno()).st_size != info.bytes:
                raise self._corrupt(info.name, f"{key} file has the wrong size")
        try:
            images = load_json(self._read("images"), max_depth=None)  # every value typed below
            self.records = list_from_json(ImageRecord, images.get("records"), where="records")
            self.skipped = list_from_json(SkipRecord, images.get("skipped"), where="skipped")
        except ValueError as exc:
            raise self._corrupt(self._name("images"), f"bad image records ({exc})") from exc
        self.features = self._npy("features", mmap=True)
        self._verify_file("vectors")  # every query reads them: never answer from damaged ones
        self.vectors = self._npy("vectors", mmap=True)
        n = len(self.records)
        if n != self.parsed.count:
            raise self._corrupt(self._name("images"), "image count differs from the manifest")
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
        from explorer.store.advice import rebuild_command

        command = rebuild_command(
            self.path, root=getattr(self, "root", None), backbone=getattr(self, "backbone", None)
        )
        return IndexCorruptError(
            f"index file {self.path / name} is damaged: {why}. Rebuild with: {command}"
        )

    def _handle(self, key: str) -> BinaryIO:
        handle = self._handles.get(key)
        if handle is None:
            raise self._corrupt(self._name(key), "file was closed")
        handle.seek(0)
        return handle

    def _read(self, key: str) -> bytes:
        """A file's bytes, checked against the manifest's sha256."""
        try:
            data = self._handle(key).read()
        except OSError as exc:
            raise self._corrupt(self._name(key), str(exc)) from exc
        if _sha(data) != self._files[key]["sha256"]:
            raise self._corrupt(self._name(key), "checksum mismatch")
        return data

    def _digest(self, key: str) -> str:
        """Stream a file through sha256, never holding it whole in memory."""
        digest = hashlib.sha256()
        fh = self._handle(key)
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
            if mmap:
                return _mmap_npy(self._handle(key))
            array: NDArray[Any] = np.load(io.BytesIO(self._read(key)), allow_pickle=False)
            return array
        except (ValueError, OSError, EOFError) as exc:
            raise self._corrupt(self._name(key), f"not a valid array ({exc})") from exc

    def _npz(self, key: str) -> dict[str, NDArray[Any]]:
        try:
            with np.load(io.BytesIO(self._read(key)), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except IndexCorruptError:
            raise
        except Exception as exc:  # a damaged zip raises BadZipFile, zlib.error, ...
            raise self._corrupt(self._name(key), f"not a valid array archive ({exc})") from exc

    def _arrays(self, key: str, names: tuple[str, ...]) -> dict[str, NDArray[Any]]:
        z = self._npz(key)
        missing = [n for n in names if n not in z]
        if missing:
            raise self._corrupt(self._name(key), f"no array {missing[0]!r}")
        return z

    def projection(self) -> Projection:
        """The stored PCA."""
        z = self._arrays("pca", ("mean", "components", "explained_variance_ratio"))
        try:
            return Projection(
                z["mean"].astype(np.float32),
                z["components"].astype(np.float32),
                z["explained_variance_ratio"].astype(np.float32),
            )
        except (ValueError, TypeError) as exc:
            raise self._corrupt(self._name("pca"), f"not a PCA ({exc})") from exc

    def thumbnails(self) -> list[bytes]:
        """Every image's WebP thumbnail, in row order."""
        blob = self._read("thumbs")
        offsets = self._npy("thumb_offsets")
        if (
            offsets.ndim != 1
            or len(offsets) != len(self) + 1
            or offsets.dtype.kind not in "iu"
            or (len(offsets) and (offsets[0] != 0 or offsets[-1] != len(blob)))
            or bool(np.any(np.diff(offsets) < 0))
        ):
            raise self._corrupt(self._name("thumb_offsets"), "offsets do not fit the thumbnails")
        return [blob[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]

    def classes(self) -> tuple[NDArray[np.int16], NDArray[np.float16]] | None:
        """Top ImageNet classes per image, when the backbone produced them."""
        if "classes" not in self._files:
            return None
        z = self._arrays("classes", ("ids", "probs"))
        return z["ids"], z["probs"]

    def analysis(self) -> Analysis | None:
        """The stored clusters / map / graph, when they match the current rows.

        Raises:
            IndexCorruptError: The stored analysis is damaged or inconsistent
                (labels of clusters that do not exist, neighbours out of range).
        """
        if "analysis" not in self._files or not self.manifest.get("analysis"):
            return None
        z = self._arrays("analysis", ("labels", "centers", "coords", "neighbors", "scores"))
        if z["labels"].shape[0] != len(self):
            return None
        problem = _analysis_problem(z, len(self), self.manifest["analysis"])
        if problem:
            raise self._corrupt(self._name("analysis"), problem)
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
        if not self.sealed:
            problems.append(
                f"{MANIFEST}: not sealed (schema 1, written before manifests carried a "
                "checksum), so edits to it cannot be detected; 'explorer build FOLDER' seals it"
            )
        for key, info in self._files.items():
            try:
                if self._digest(key) != info["sha256"]:
                    problems.append(f"{info['name']}: checksum mismatch ({key})")
            except OSError as exc:
                problems.append(f"{info['name']}: unreadable ({exc})")
        if len(problems) > (0 if self.sealed else 1):
            return problems  # shapes and values of damaged files mean nothing
        n, dim = len(self), self.backbone.dim
        try:
            pca = self.projection()
        except IndexCorruptError as exc:
            return [*problems, str(exc)]
        checks: list[tuple[str, Callable[[], Any], tuple[int | None, ...]]] = [
            ("features", lambda: self.features, (n, dim)),
            ("vectors", lambda: self.vectors, (n, pca.n_components)),
            ("pca", lambda: pca.components, (None, dim)),
            ("pca", lambda: pca.mean, (dim,)),
            ("pca", lambda: pca.explained_variance_ratio, (pca.n_components,)),
        ]
        if "thumb_offsets" in self._files:
            checks.append(("thumb_offsets", lambda: self._npy("thumb_offsets"), (n + 1,)))
        if "classes" in self._files:
            checks.append(("classes", lambda: self._npz("classes")["probs"], (n, None)))
        for key, get, shape in checks:
            try:
                array = get()
            except (IndexCorruptError, KeyError) as exc:
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
        if not problems and n and not _unit_rows(self.vectors):
            problems.append(f"{self._name('vectors')}: rows are not unit vectors")
        if "thumbs" in self._files and "thumb_offsets" in self._files and not problems:
            try:
                self.thumbnails()
            except IndexCorruptError as exc:
                problems.append(str(exc))
        if "analysis" in self._files and self.manifest.get("analysis"):
            try:
                z = self._arrays("analysis", ("labels", "centers", "coords", "neighbors", "scores"))
                problem = _analysis_problem(z, n, self.manifest["analysis"])
                if z["labels"].shape[0] != n:
                    problem = f"analysis of {z['labels'].shape[0]} rows for {n} images"
                if problem:
                    problems.append(f"{self._name('analysis')}: {problem}")
            except IndexCorruptError as exc:
                problems.append(str(exc))
        return problems


def _mmap_npy(fh: BinaryIO) -> NDArray[Any]:
    """Memory-map an ``.npy`` from an open file (never by name: no symlink, no race)."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays are never loaded")
    offset = fh.tell()
    count = int(np.prod(shape, dtype=np.int64))
    size = os.fstat(fh.fileno()).st_size
    if offset + count * dtype.itemsize != size:
        raise ValueError(f"file of {size} bytes does not hold a {shape} {dtype} array")
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    array: NDArray[Any] = np.memmap(
        fh, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
    )
    return array


def _unit_rows(vectors: NDArray[Any], *, rows: int = 8192) -> bool:
    """Every row has length 1 (or 0: an image exactly at the PCA mean)."""
    for i in range(0, vectors.shape[0], rows):
        norms = np.linalg.norm(np.asarray(vectors[i : i + rows], dtype=np.float32), axis=1)
        if not bool(np.all((np.abs(norms - 1) < 1e-3) | (norms < 1e-6))):
            return False
    return True


def _analysis_problem(z: dict[str, NDArray[Any]], n: int, info: dict[str, Any]) -> str | None:
    """What is inconsistent in a stored analysis of ``n`` rows, if anything."""
    labels, centers, coords = z["labels"], z["centers"], z["coords"]
    neighbors, scores = z["neighbors"], z["scores"]
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        return "cluster labels are not a list of whole numbers"
    if labels.shape[0] != n:
        return None  # stale (the caller recomputes it)
    k = centers.shape[0] if centers.ndim == 2 else -1
    if k < 1 or (n and (int(labels.min()) < 0 or int(labels.max()) >= k)):
        return f"cluster labels outside 0..{k - 1}"
    if "k" in info and info["k"] != k:
        return f"{k} cluster centres, the manifest says {info['k']}"
    if coords.shape != (n, 2):
        return f"map of shape {coords.shape}, expected {n}x2"
    if neighbors.ndim != 2 or neighbors.shape[0] != n or scores.shape != neighbors.shape:
        return "neighbour graph of the wrong shape"
    if neighbors.dtype.kind not in "iu" or (
        neighbors.size and (int(neighbors.min()) < -1 or int(neighbors.max()) >= n)
    ):
        return "neighbours outside the index"
    for name, array in (("centers", centers), ("coords", coords), ("scores", scores)):
        if array.dtype.kind != "f" or not _all_finite(array):
            return f"{name} hold NaN or infinity"
    return None
