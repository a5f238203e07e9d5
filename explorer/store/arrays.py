"""Arrays in index files: ``.npy``/``.npz`` bytes, memory maps, value checks.

Arrays are always saved and loaded with ``allow_pickle=False``; object arrays
are refused. The helpers work block by block, so a memory-mapped array of any
size is never copied whole.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray


def npy_bytes(array: NDArray[Any]) -> bytes:
    """An array as the bytes of an ``.npy`` file (never pickled)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def npz_bytes(**arrays: NDArray[Any]) -> bytes:
    """Named arrays as the bytes of an (uncompressed) ``.npz`` archive."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def mmap_npy(fh: BinaryIO) -> NDArray[Any]:
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


def unit_rows(vectors: NDArray[Any], *, rows: int = 8192) -> bool:
    """Every row has length 1 (or 0: an image exactly at the PCA mean)."""
    for i in range(0, vectors.shape[0], rows):
        norms = np.linalg.norm(np.asarray(vectors[i : i + rows], dtype=np.float32), axis=1)
        if not bool(np.all((np.abs(norms - 1) < 1e-3) | (norms < 1e-6))):
            return False
    return True


def all_finite(array: NDArray[Any], *, rows: int = 8192) -> bool:
    """``isfinite`` in blocks of rows, so a memory-mapped array is never copied whole."""
    flat = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
    return all(bool(np.isfinite(flat[i : i + rows]).all()) for i in range(0, flat.shape[0], rows))


def analysis_problem(z: dict[str, NDArray[Any]], n: int, info: dict[str, Any]) -> str | None:
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
        if array.dtype.kind != "f" or not all_finite(array):
            return f"{name} hold NaN or infinity"
    return None
