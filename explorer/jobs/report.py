"""The report job: bring the stored analysis up to date, then write the HTML page.

The analysis is stored in the index with the parameters that made it
(:mod:`explorer.analysis.stored`), so ``explorer report`` rewrites the page
without recomputing anything when the index and the parameters are unchanged,
and never touches the model.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from explorer.analysis.params import Clusters, check_request, resolve
from explorer.analysis.stored import Refreshed, ensure_analysis, index_defaults, stored_params
from explorer.progress import Progress, no_progress
from explorer.store.folder import REPORTS, check_output
from explorer.store.index import Index
from explorer.store.records import ImageRecord

if TYPE_CHECKING:
    from explorer.analysis.duplicates import DuplicateGroup

log = logging.getLogger(__name__)

REPORT_NEIGHBORS = 5  # neighbours shown per image in the report
REPORTS_DIR = Path(REPORTS)


@dataclass
class ReportSummary:
    """What ``report`` did."""

    path: Path
    images: int
    clusters: int
    cluster_method: str
    duplicate_groups: int
    reused_analysis: bool
    seconds: float
    previous_clusters: int | None = None  # k before, when the clusters were recomputed


def _top_folder(path: str) -> str | None:
    """The first folder of a record path (``"album/"``), ``None`` for a file at the root."""
    return path.split("/", 1)[0] + "/" if "/" in path else None


DEFAULT_INDEX_NAME = ".explorer"


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "index"


def default_report_path(root: str, index_path: Path | None = None) -> Path:
    """Where a report goes unless ``--out`` says otherwise: derived from the index.

    ``reports/<folder>.html`` beside the index (for ``./.explorer``, in the
    current folder); an index with another name adds it,
    ``reports/<folder>-<index>.html``, so two indexes of one folder never share
    a report. When that would lie inside the indexed folder (``explorer build .``),
    the report goes inside the index folder instead, which no build indexes.
    """
    name = _slug(Path(root).name or "index")
    if index_path is None:
        return REPORTS_DIR / f"{name}.html"
    if index_path.name != DEFAULT_INDEX_NAME:
        name = f"{name}-{_slug(index_path.name)}"
    path = index_path.parent / REPORTS_DIR / f"{name}.html"
    inside = os.path.abspath(path).startswith(os.path.join(os.path.abspath(root), ""))
    return index_path / REPORTS_DIR / f"{name}.html" if inside else path


def report(
    index_path: Path,
    *,
    out: Path | None = None,
    clusters: Clusters = "stored",
    dup_threshold: float | None = None,
    seed: int | None = None,
    progress: Progress = no_progress,
) -> ReportSummary:
    """Write the standalone HTML report of an index (computing its analysis if needed).

    Args:
        index_path: The index.
        out: HTML file; default :func:`default_report_path`.
        clusters: k; ``"auto"`` to choose k by silhouette; ``"stored"`` (the
            default) to keep what the stored analysis was asked for (a fixed
            k or auto), or auto when there is none.
        dup_threshold: Near-duplicate cosine threshold in (0, 1] (default: the
            stored analysis', else the backbone's); a new one is stored with
            its group count, for ``explorer duplicates`` and ``explorer info``.
        seed: Seed for k-means and UMAP (default: the index's build seed).
        progress: Progress hook.

    Returns:
        Where the report went and what it shows.

    Raises:
        UsageError: A parameter out of range (before any work).
    """
    started = time.perf_counter()
    check_request(clusters=clusters, dup_threshold=dup_threshold, seed=seed)
    index = Index(index_path)
    page = out or default_report_path(index.root, index_path)
    check_output(page)  # refuse a path inside an index, or a folder, before any work
    build_seed = index_defaults(index).seed
    params = resolve(
        stored_params(index),
        clusters=clusters,
        dup_threshold=dup_threshold,
        seed=build_seed if seed is None else seed,
    )
    done = ensure_analysis(index, params, progress=progress, command="explorer report")
    path, groups = _write(done, page, progress=progress)
    return ReportSummary(
        path=path,
        images=len(done.index),
        clusters=done.info.k,
        cluster_method=done.info.method,
        duplicate_groups=len(groups),
        reused_analysis=done.reused,
        seconds=time.perf_counter() - started,
        previous_clusters=done.previous_k,
    )


def _write(done: Refreshed, page: Path, *, progress: Progress) -> tuple[Path, list[DuplicateGroup]]:
    """Gather what the page shows from the index and its current analysis, and write it."""
    from explorer.analysis.calibration import histogram, pairs_near
    from explorer.analysis.clustering import cluster_guesses, cluster_names, representatives
    from explorer.analysis.duplicates import duplicate_scores, near_duplicate_groups, same_bytes
    from explorer.analysis.keepers import keeper_sets
    from explorer.inputs.capture import describe, facets
    from explorer.page.data import ReportData
    from explorer.page.render import write_report
    from explorer.store.tags import load_tags

    index, analysis, info = done.index, done.analysis, done.info
    threshold = info.params.dup_threshold
    records = index.records
    hashes = [r.sha256 for r in records]
    groups = near_duplicate_groups(index, analysis.neighbors, analysis.scores, threshold=threshold)
    sets = keeper_sets(records, groups)
    dup_scores = duplicate_scores(index, analysis.neighbors)
    clustering = info.clustering(analysis)
    k = clustering.k
    classes = index.classes()
    class_ids, class_probs = classes if classes else (None, None)
    tags = load_tags(index.path)
    vectors = np.asarray(index.vectors, dtype=np.float32)
    b = index.backbone
    pca = index.projection()
    data = ReportData(
        title=Path(index.root).name or index.root,
        root=index.root,
        paths=[r.path for r in records],
        thumbnails=index.thumbnails(),
        coords=analysis.coords,
        labels=analysis.labels,
        neighbors=analysis.neighbors[:, :REPORT_NEIGHBORS],
        neighbor_scores=analysis.scores[:, :REPORT_NEIGHBORS],
        representatives=representatives(vectors, clustering),
        duplicate_groups=groups,
        cluster_names=cluster_names(analysis.labels, class_ids, class_probs, k=k),
        summary={
            "Backbone": f"{b.name} {b.layer}",
            "Weights": os.path.basename(b.weights),
            "PCA": f"{pca.n_components} components",
            "Clusters": f"{clustering.k} ({clustering.method})",
            "Duplicates": f"cosine ≥ {threshold:g}",
        },
        tags=[tags.get(r.path, []) for r in records],
        exact_copies=same_bytes(hashes),
        duplicate_keepers=[s.members[0].row for s in sets],
        duplicate_reasons=[s.reason for s in sets],
        image_details=_details(records, {i for g in groups for i in g.members}),
        duplicate_histogram=histogram(analysis.neighbors, dup_scores),
        dup_threshold=threshold,
        duplicate_examples=pairs_near(analysis.neighbors, dup_scores, threshold=threshold),
        captions=[describe(r) for r in records],
        facets=facets(records) | {"Folder": [_top_folder(r.path) for r in records]},
        link_originals=True,
        file_sizes=[r.size for r in records],
        cluster_guesses=cluster_guesses(analysis.labels, class_ids, class_probs, k=k),
    )
    return write_report(data, page, progress=progress), groups


def _details(records: list[ImageRecord], rows: set[int]) -> list[str]:
    """Folder, ``4032×3024 · 2.1 MB`` and date, one a line, for the images in ``rows``."""
    out = []
    for i, r in enumerate(records):
        if i not in rows:
            out.append("")
            continue
        day = time.strftime("%Y-%m-%d", time.localtime(r.mtime_ns / 1e9))
        folder = r.path.rpartition("/")[0]
        where = f"{folder}/\n" if folder else ""
        out.append(f"{where}{r.width}×{r.height} · {_size(r.size)}\n{day}")
    return out


def _size(n: int) -> str:
    if n < 1000:
        return f"{n}\u00a0B"
    return f"{n / 1000:.1f}\u00a0kB" if n < 1_000_000 else f"{n / 1e6:.1f}\u00a0MB"
