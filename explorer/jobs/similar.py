"""Similarity queries against an index.

A query image that is already indexed (same path, size and modification time)
or byte-identical to an indexed file reuses the stored vector, so such lookups
never load the network or import TensorFlow. Other images are extracted in
one batch run with one model load, and projected with the stored PCA.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from explorer.analysis.knn import top_k
from explorer.analysis.pca import project
from explorer.errors import NoImagesError, UsageError
from explorer.features.base import Backbone
from explorer.features.extract import extract
from explorer.features.registry import check_requested_weights, load_backbone
from explorer.inputs.scan import Candidate, scan_paths
from explorer.inputs.skips import Skipped
from explorer.jobs.checks import check_compatible, check_exist
from explorer.progress import Progress, no_progress
from explorer.store.index import Index
from explorer.store.rows import record_file, record_path


@dataclass(frozen=True)
class Match:
    """One result of a query."""

    rank: int
    path: Path
    score: float
    row: int


@dataclass
class QueryResult:
    """The neighbours of one query image, or why it could not be read."""

    query: Path
    matches: list[Match] = field(default_factory=list)
    indexed: bool = False
    skipped: str | None = None


def similar(
    queries: Sequence[Path],
    *,
    index_path: Path,
    k: int = 5,
    weights: str | None = None,
    backbone: Backbone | None = None,
    progress: Progress = no_progress,
) -> list[QueryResult]:
    """Find the ``k`` indexed images most similar to each query image.

    Args:
        queries: Image files and/or folders (folders are searched recursively).
        index_path: The index to search.
        k: Results per query.
        weights: Weights to embed new images with; default: the index's own.
        backbone: A model already loaded, to embed new images with (a
            long-running process loads it once; see
            :func:`explorer.features.registry.load_backbone`); default: load the
            index's own when a query is not indexed.
        progress: Progress hook for extraction.

    Returns:
        One result per query image, in the order the queries were given (the
        images of a folder in path order). A query that is itself indexed never
        returns itself; other files, even byte-identical ones, do.

    Raises:
        UsageError: ``k`` < 1, or a query names a file or folder that does not exist.
        NoImagesError: The queries hold no image file.
        IncompatibleIndexError: ``weights`` or ``backbone`` differ from the index's.
    """
    if k < 1:
        raise UsageError(f"k must be >= 1, got {k}")
    check_exist(queries)
    index = Index(index_path)
    if weights is not None:
        check_requested_weights(weights, index.backbone)
    scan = scan_paths(list(queries), exclude=[index_path])
    if not scan.candidates and not scan.skipped:
        raise NoImagesError("no image files among the queries")
    root = Path(index.root)
    by_path = {r.path: i for i, r in enumerate(index.records)}
    by_sha: dict[str, int] = {}
    for i, r in enumerate(index.records):
        by_sha.setdefault(r.sha256, i)

    results = [QueryResult(query=c.path) for c in scan.candidates]
    rows = np.full(len(results), -1, dtype=np.int64)
    exclude = np.full(len(results), -1, dtype=np.int64)
    todo: list[int] = []
    for q, cand in enumerate(scan.candidates):
        at = by_path.get(record_path(cand.path, root))
        if at is not None and _same_stat(index, at, cand):
            rows[q] = exclude[q] = at
            results[q].indexed = True
            continue
        sha = _sha_or_empty(cand.path)
        if at is not None and sha == index.records[at].sha256:
            # the indexed file itself, only touched since: still never its own match
            rows[q] = exclude[q] = at
            results[q].indexed = True
            continue
        twin = by_sha.get(sha)
        if twin is not None:
            rows[q] = twin
            continue
        todo.append(q)

    vectors = np.zeros((len(results), index.vectors.shape[1]), dtype=np.float32)
    have = rows >= 0
    vectors[have] = index.vectors[rows[have]]
    if todo:
        new_vectors = _embed(
            index, [scan.candidates[q] for q in todo], results, todo, weights, backbone, progress
        )
        for q, vec in new_vectors.items():
            vectors[q] = vec
            have[q] = True

    idx, scores = top_k(vectors[have], np.asarray(index.vectors), k=k, exclude=exclude[have])
    for row, pos in enumerate(np.flatnonzero(have)):
        results[int(pos)].matches = [
            Match(rank + 1, record_file(index.records[int(j)], root), float(s), int(j))
            for rank, (j, s) in enumerate(
                (j, s) for j, s in zip(idx[row], scores[row], strict=True) if j >= 0
            )
            if rank < k
        ]
    skipped = [QueryResult(query=s.path, skipped=s.reason.value) for s in scan.skipped]
    return in_given_order(results + skipped, queries)


def in_given_order(results: list[QueryResult], given: Sequence[Path]) -> list[QueryResult]:
    """Results sorted by which given path they came from (stable within a folder)."""
    tops = [os.fsencode(os.path.normpath(p)) for p in given]

    def position(result: QueryResult) -> int:
        path = os.fsencode(os.path.normpath(result.query))
        for i, top in enumerate(tops):
            if path == top or path.startswith(top.rstrip(b"/") + b"/"):
                return i
        return len(tops)

    return sorted(results, key=position)


def _same_stat(index: Index, i: int, cand: Candidate) -> bool:
    rec = index.records[i]
    return rec.size == cand.size and rec.mtime_ns == cand.mtime_ns


def _sha_or_empty(path: Path) -> str:
    from explorer.fs import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        return ""


def _embed(
    index: Index,
    candidates: list[Candidate],
    results: list[QueryResult],
    positions: list[int],
    weights: str | None,
    backbone: Backbone | None,
    progress: Progress,
) -> dict[int, NDArray[np.float32]]:
    """Extract and project query images that are not in the index."""

    def load() -> Backbone:
        model = backbone or load_backbone(index.backbone.name, weights or index.backbone.weights)
        check_compatible(model.info, index.backbone)
        return model

    where = {os.fsencode(c.path): q for c, q in zip(candidates, positions, strict=True)}
    projection = index.projection()
    advance = progress("embedding queries", len(candidates))
    out: dict[int, NDArray[np.float32]] = {}
    for item in extract([c.path for c in candidates], load):
        if isinstance(item, Skipped):
            results[where[os.fsencode(item.path)]].skipped = item.reason.value
            advance(1)
            continue
        vecs = project(item.embedding.features, projection)
        for im, vec in zip(item.images, vecs, strict=True):
            out[where[os.fsencode(im.path)]] = vec
        advance(len(item.images))
    return out
