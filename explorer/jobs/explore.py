"""Explore an index: clusters, map, neighbours and near-duplicates, then the HTML report.

The analysis is stored in the index with the parameters that made it, so
``explorer report`` rewrites the page without recomputing anything when the
index and the parameters are unchanged, and never touches the model.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from explorer.analysis.search import EXACT_GRAPH_LIMIT, neighbor_graph
from explorer.errors import UsageError
from explorer.progress import Progress, no_progress
from explorer.store.commit import save_analysis
from explorer.store.folder import REPORTS, check_output, check_unlocked, lock_index
from explorer.store.index import Index
from explorer.store.records import Analysis, ImageRecord

log = logging.getLogger(__name__)

GRAPH_NEIGHBORS = 15  # columns of the k-NN graph shared by UMAP and the top-k lists
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


def analyse(
    index: Index,
    *,
    clusters: int | None = None,
    dup_threshold: float | None = None,
    seed: int = 0,
    progress: Progress = no_progress,
) -> Analysis:
    """Neighbour graph, k-means, UMAP map and duplicate count for every indexed image.

    Args:
        index: The index.
        clusters: k for k-means, or ``None`` for the automatic choice.
        dup_threshold: Cosine threshold for near-duplicates (default: analysis'
            documented default).
        seed: One seed for k-means and UMAP.
        progress: Progress hook.

    Returns:
        The analysis, with its parameters and summary in ``info``.
    """
    from explorer.analysis.compute import check_dup_threshold, cluster, embed_2d
    from explorer.analysis.duplicates import near_duplicate_groups
    from explorer.features.registry import default_dup_threshold

    default = default_dup_threshold(index.backbone.name)
    threshold = check_dup_threshold(default if dup_threshold is None else dup_threshold)
    vectors = np.asarray(index.vectors, dtype=np.float32)
    n = len(vectors)
    if clusters is not None and not 1 <= clusters <= n:
        raise UsageError(
            f"clusters must be between 1 and the number of images ({n}), got {clusters}"
        )
    if n > EXACT_GRAPH_LIMIT:
        # NN-descent reports nothing until it is done (see neighbor_graph): one step
        step = progress("neighbours (NN-descent)", 1)
        neighbors, scores = neighbor_graph(vectors, k=GRAPH_NEIGHBORS, seed=seed)
        step(1)
    else:
        neighbors, scores = neighbor_graph(
            vectors, k=GRAPH_NEIGHBORS, seed=seed, progress=progress("neighbours", n)
        )
    clustering = cluster(vectors, n_clusters=clusters, seed=seed, progress=progress)
    coords = embed_2d(vectors, neighbors=neighbors, scores=scores, seed=seed, progress=progress)
    groups = near_duplicate_groups(index, neighbors, scores, threshold=threshold)
    info = {
        "k": clustering.k,
        "method": clustering.method,
        "silhouette": clustering.silhouette,
        "candidates": {str(k): v for k, v in clustering.candidates.items()},
        "clusters_requested": clusters,
        "dup_threshold": threshold,
        "dup_threshold_default": default,  # the backbone's calibrated value
        "duplicate_groups": len(groups),
        "seed": seed,
        "generation": index.manifest.get("generation"),
    }
    return Analysis(clustering.labels, clustering.centers, coords, neighbors, scores, info)


def current_analysis(
    index_path: Path, *, progress: Progress = no_progress
) -> tuple[Index, Analysis]:
    """The index and an analysis of its current rows, computed and stored if missing or stale.

    A stale analysis (after ``add``) is recomputed with the parameters it was
    made with; none stored means automatic k and the build's seed.
    """
    index = Index(index_path)
    analysis = index.analysis()
    if analysis is not None and analysis.info.get("generation") == index.manifest.get("generation"):
        return index, analysis
    check_unlocked(index_path)  # fail now, not after computing what could not be stored
    old = (index.manifest.get("analysis") or {}) if analysis is None else analysis.info
    seed = int(old.get("seed", (index.manifest.get("meta") or {}).get("seed", 0)))
    analysis = analyse(
        index,
        clusters=old.get("clusters_requested"),
        dup_threshold=old.get("dup_threshold"),
        seed=seed,
        progress=progress,
    )
    with lock_index(index_path, command="explorer (analysis)"):
        save_analysis(index_path, analysis)
    return index, analysis


def report(
    index_path: Path,
    *,
    out: Path | None = None,
    clusters: int | Literal["auto", "stored"] = "stored",
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
        dup_threshold: Near-duplicate cosine threshold.
        seed: Seed for k-means and UMAP (default: the index's build seed).
        progress: Progress hook.

    Returns:
        Where the report went and what it shows.
    """
    from explorer.analysis.clusters import cluster_guesses, cluster_names
    from explorer.analysis.compute import Clustering
    from explorer.analysis.compute import representatives as nearest_centre
    from explorer.analysis.duplicates import (
        duplicate_scores,
        histogram,
        keep_reason,
        keeper_order,
        near_duplicate_groups,
        pairs_near,
    )
    from explorer.features.registry import default_dup_threshold
    from explorer.inputs.capture import describe, facets
    from explorer.report.data import ReportData
    from explorer.report.render import write_report
    from explorer.store.tags import load_tags

    started = time.perf_counter()
    index = Index(index_path)
    page = out or default_report_path(index.root, index_path)
    check_output(page)  # refuse a path inside an index, or a folder, before any work
    seed = int((index.manifest.get("meta") or {}).get("seed", 0)) if seed is None else seed
    analysis = index.analysis()
    if clusters == "stored":
        stored = analysis.info if analysis is not None else index.manifest.get("analysis") or {}
        requested: int | None = stored.get("clusters_requested")
    else:
        requested = None if clusters == "auto" else clusters
    wanted = {
        "clusters_requested": requested,
        "seed": seed,
        "generation": index.manifest.get("generation"),
    }
    reused = analysis is not None and all(analysis.info.get(k) == v for k, v in wanted.items())
    before = analysis.info.get("k") if analysis is not None else None
    if analysis is None or not reused:
        check_unlocked(index_path)
        previous = (index.manifest.get("analysis") or {}).get("dup_threshold")
        analysis = analyse(
            index,
            clusters=requested,
            dup_threshold=dup_threshold if dup_threshold is not None else previous,
            seed=seed,
            progress=progress,
        )
        with lock_index(index_path, command="explorer report"):
            save_analysis(index_path, analysis)
    elif dup_threshold is not None and dup_threshold != analysis.info.get("dup_threshold"):
        analysis.info["dup_threshold"] = dup_threshold  # remembered for 'explorer duplicates'
        with lock_index(index_path, command="explorer report"):
            save_analysis(index_path, analysis)
    threshold = float(
        analysis.info.get("dup_threshold") or default_dup_threshold(index.backbone.name)
    )
    records = index.records
    hashes = [r.sha256 for r in records]
    groups = near_duplicate_groups(index, analysis.neighbors, analysis.scores, threshold=threshold)
    dup_scores = duplicate_scores(index, analysis.neighbors)
    keepers = [g.members[keeper_order([records[i] for i in g.members])[0]] for g in groups]
    copies = Counter(hashes)
    k = int(analysis.info["k"])
    clustering = Clustering(
        analysis.labels,
        analysis.centers,
        k,
        str(analysis.info["method"]),
        analysis.info.get("silhouette"),
        {},
    )
    classes = index.classes()
    tags = load_tags(index_path)
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
        representatives=nearest_centre(vectors, clustering),
        duplicate_groups=groups,
        cluster_names=cluster_names(
            analysis.labels,
            classes[0] if classes else None,
            classes[1] if classes else None,
            k=k,
        ),
        summary={
            "Backbone": f"{b.name} {b.layer}",
            "Weights": os.path.basename(b.weights),
            "PCA": f"{pca.n_components} components",
            "Clusters": f"{clustering.k} ({clustering.method})",
            "Duplicates": f"cosine ≥ {threshold:g}",
        },
        tags=[tags.get(r.path, []) for r in records],
        exact_duplicates=[copies[h] > 1 for h in hashes],
        duplicate_keepers=keepers,
        duplicate_reasons=[
            keep_reason(records[k], [records[i] for i in g.members if i != k])
            for k, g in zip(keepers, groups, strict=True)
        ],
        image_details=_details(records, {i for g in groups for i in g.members}),
        duplicate_histogram=histogram(analysis.neighbors, dup_scores),
        dup_threshold=threshold,
        duplicate_examples=pairs_near(analysis.neighbors, dup_scores, threshold=threshold),
        captions=[describe(r) for r in records],
        facets=facets(records) | {"Folder": [_top_folder(r.path) for r in records]},
        link_originals=True,
        file_sizes=[r.size for r in records],
        cluster_guesses=cluster_guesses(
            analysis.labels,
            classes[0] if classes else None,
            classes[1] if classes else None,
            k=k,
        ),
    )
    path = write_report(data, page, progress=progress)
    return ReportSummary(
        path=path,
        images=len(index),
        clusters=clustering.k,
        cluster_method=clustering.method,
        duplicate_groups=len(groups),
        reused_analysis=reused,
        seconds=time.perf_counter() - started,
        previous_clusters=None if reused or before is None else int(before),
    )


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
