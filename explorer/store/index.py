"""The on-disk index, read: :class:`Index` opens one committed generation.

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
(no symlink followed, only the index's own names deleted); generations are
written by :mod:`explorer.store.commit`. Nothing is ever unpickled.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from explorer.errors import IndexCorruptError, IndexMissingError
from explorer.features.base import BackboneInfo
from explorer.fs import sha256_hex, stream_sha256
from explorer.store.arrays import all_finite, analysis_problem, mmap_npy, unit_rows
from explorer.store.folder import open_read, read_bytes
from explorer.store.manifest import (
    MANIFEST,
    SCHEMA_VERSION,
    Manifest,
    list_from_json,
    load_json,
    manifest_digest,
    parse_manifest,
)
from explorer.store.records import Analysis, ImageRecord, Projection, SkipRecord

_OPEN_RETRIES = 8  # a reader that meets a commit re-reads the manifest this many times


def index_exists(path: Path) -> bool:
    """Whether a committed index lives at ``path``."""
    return (Path(path) / MANIFEST).is_file()


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

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the index at ``path`` (a folder).

        Raises:
            IndexMissingError: No index there.
            IndexCorruptError: The manifest or a file it names is damaged or foreign.
            UnsafeIndexError: A file of the index is a symlink or not a regular file.
        """
        self.path = Path(path)
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
        if not legacy and checksum != manifest_digest(manifest):
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
        if sha256_hex(data) != self._files[key]["sha256"]:
            raise self._corrupt(self._name(key), "checksum mismatch")
        return data

    def _digest(self, key: str) -> str:
        """Stream a file through sha256, never holding it whole in memory."""
        return stream_sha256(self._handle(key))

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
                return mmap_npy(self._handle(key))
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
        problem = analysis_problem(z, len(self), self.manifest["analysis"])
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
            elif array.dtype.kind == "f" and not all_finite(array):
                problems.append(f"{name}: contains NaN or infinity")
        if not problems and n and not unit_rows(self.vectors):
            problems.append(f"{self._name('vectors')}: rows are not unit vectors")
        if "thumbs" in self._files and "thumb_offsets" in self._files and not problems:
            try:
                self.thumbnails()
            except IndexCorruptError as exc:
                problems.append(str(exc))
        if "analysis" in self._files and self.manifest.get("analysis"):
            try:
                z = self._arrays("analysis", ("labels", "centers", "coords", "neighbors", "scores"))
                problem = analysis_problem(z, n, self.manifest["analysis"])
                if z["labels"].shape[0] != n:
                    problem = f"analysis of {z['labels'].shape[0]} rows for {n} images"
                if problem:
                    problems.append(f"{self._name('analysis')}: {problem}")
            except IndexCorruptError as exc:
                problems.append(str(exc))
        return problems
