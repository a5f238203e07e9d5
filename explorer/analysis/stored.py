"""The analysis stored in an index: computing it, reading it back, and the one freshness rule.

An analysis (neighbour graph, k-means, UMAP map, near-duplicate count) is
stored with the :class:`~explorer.analysis.params.AnalysisParams` that made it
and the index generation it was made for. :func:`staleness` is the one rule
for whether it still holds; :func:`ensure_analysis` recomputes what does not
(only the duplicate count when only the threshold changed) and stores it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from explorer.analysis.clustering import Clustering, cluster
from explorer.analysis.duplicates import near_duplicate_groups
from explorer.analysis.knn import EXACT_GRAPH_LIMIT, neighbor_graph
from explorer.analysis.layout import embed_2d
from explorer.analysis.params import (
    MAX_SEED,
    AnalysisParams,
    check_clusters,
    default_dup_threshold,
)
from explorer.progress import Progress, no_progress
from explorer.store.commit import save_analysis
from explorer.store.folder import check_unlocked, lock_index
from explorer.store.index import Index
from explorer.store.records import Analysis

log = logging.getLogger(__name__)

GRAPH_NEIGHBORS = 15  # columns of the k-NN graph shared by UMAP, duplicates and the top-k lists


@dataclass(frozen=True)
class AnalysisInfo:
    """The typed view of a stored analysis' manifest entry (``manifest["analysis"]``).

    Attributes:
        params: What it was computed with.
        k: Number of clusters found.
        method: How k was chosen (:class:`~explorer.analysis.clustering.Clustering`).
        silhouette: Mean cosine silhouette of the clustering, when defined.
        candidates: ``k -> silhouette`` of every k tried in auto mode.
        dup_threshold_default: The backbone's calibrated threshold when it was made.
        duplicate_groups: Groups found at ``params.dup_threshold`` (``None``: not counted).
        generation: The index generation it was made for.
        repaired: The stored entry held a value that is not valid (a threshold of
            0 from an older explorer); ``params`` holds the default instead.
    """

    params: AnalysisParams
    k: int
    method: str
    silhouette: float | None = None
    candidates: dict[int, float] = field(default_factory=dict)
    dup_threshold_default: float | None = None
    duplicate_groups: int | None = None
    generation: str | None = None
    repaired: bool = False

    def to_json(self) -> dict[str, Any]:
        """The manifest entry, in the format every explorer version wrote."""
        return {
            "k": self.k,
            "method": self.method,
            "silhouette": self.silhouette,
            "candidates": {str(k): v for k, v in self.candidates.items()},
            "clusters_requested": self.params.clusters,
            "dup_threshold": self.params.dup_threshold,
            "dup_threshold_default": self.dup_threshold_default,
            "duplicate_groups": self.duplicate_groups,
            "seed": self.params.seed,
            "generation": self.generation,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, defaults: AnalysisParams) -> AnalysisInfo:
        """Parse a manifest entry; a missing or invalid parameter takes its value from ``defaults``.

        Older indexes lack some keys; one written by an older explorer may hold
        a threshold of 0, which no command accepts: that comes back as the
        default, with ``repaired`` set so that the entry is rewritten.
        """
        params, repaired = _params_from_json(data, defaults)
        silhouette = data.get("silhouette")
        candidates = data.get("candidates")
        groups = data.get("duplicate_groups")
        default = data.get("dup_threshold_default")
        generation = data.get("generation")
        return cls(
            params=params,
            k=_whole(data.get("k")) or 0,
            method=str(data.get("method", "")),
            silhouette=float(silhouette) if _number(silhouette) else None,
            candidates=(
                {int(k): float(v) for k, v in candidates.items()}
                if isinstance(candidates, dict)
                else {}
            ),
            dup_threshold_default=float(default) if _number(default) else None,
            duplicate_groups=_whole(groups),
            generation=None if generation is None else str(generation),
            repaired=repaired,
        )

    def clustering(self, analysis: Analysis) -> Clustering:
        """The stored clustering (labels and centres from the arrays, the rest from here)."""
        return Clustering(
            analysis.labels, analysis.centers, self.k, self.method, self.silhouette, {}
        )


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _params_from_json(
    data: Mapping[str, Any], defaults: AnalysisParams
) -> tuple[AnalysisParams, bool]:
    """The stored parameters, each missing or invalid one replaced by its default."""
    clusters = data.get("clusters_requested")
    threshold = data.get("dup_threshold", defaults.dup_threshold)
    seed = data.get("seed", defaults.seed)
    fields: dict[str, Any] = {}
    repaired = False
    for name, value, ok in (
        ("clusters", clusters, clusters is None or (_whole(clusters) or 0) >= 1),
        ("dup_threshold", threshold, _number(threshold) and 0.0 < threshold <= 1.0),
        ("seed", seed, _whole(seed) is not None and 0 <= seed <= MAX_SEED),
    ):
        if ok:
            fields[name] = value
        else:
            log.warning(
                "the stored analysis has an invalid %s (%r): using the default", name, value
            )
            repaired = True
    return replace(defaults, **fields), repaired


def index_defaults(index: Index) -> AnalysisParams:
    """The parameters of an index that has no analysis: automatic k, the backbone's
    threshold, the build's seed."""
    seed = (index.manifest.get("meta") or {}).get("seed", 0)
    return AnalysisParams(
        clusters=None,
        dup_threshold=default_dup_threshold(index.backbone.name),
        seed=seed if _whole(seed) is not None and 0 <= seed <= MAX_SEED else 0,
    )


def stored_info(index: Index) -> AnalysisInfo | None:
    """The stored analysis' entry, typed (``None`` when the index holds none).

    Read from the manifest, so it is there even when the arrays are stale
    (after ``add``): the parameters outlive the rows they were computed on.
    """
    data = index.manifest.get("analysis")
    if not isinstance(data, dict) or not data:
        return None
    return AnalysisInfo.from_json(data, defaults=index_defaults(index))


def stored_params(index: Index) -> AnalysisParams:
    """The parameters of the stored analysis, else the index's defaults."""
    info = stored_info(index)
    return index_defaults(index) if info is None else info.params


class Staleness(enum.Enum):
    """How much of a stored analysis must be recomputed."""

    CURRENT = "current"  # nothing
    GROUPS = "groups"  # only the near-duplicate count (another threshold)
    ALL = "all"  # everything (other rows, k or seed)


def staleness(
    info: AnalysisInfo | None, params: AnalysisParams, *, generation: str | None
) -> Staleness:
    """The one freshness rule: is a stored analysis current for ``params`` and ``generation``?

    Args:
        info: The stored analysis' entry (``None``: there is none, or its arrays
            do not match the index's rows).
        params: The parameters wanted.
        generation: The index's current generation.
    """
    if info is None or info.generation != generation:
        return Staleness.ALL
    if (info.params.clusters, info.params.seed) != (params.clusters, params.seed):
        return Staleness.ALL
    if info.repaired or info.params.dup_threshold != params.dup_threshold:
        return Staleness.GROUPS
    # an older entry without a count shows none, so nothing disagrees: read-only
    # commands need not rewrite it
    return Staleness.CURRENT


def analyse(index: Index, params: AnalysisParams, *, progress: Progress = no_progress) -> Analysis:
    """Neighbour graph, k-means, UMAP map and duplicate count for every indexed image.

    Args:
        index: The index.
        params: k, threshold and seed (one seed for the graph, k-means and UMAP).
        progress: Progress hook.

    Returns:
        The analysis, its :class:`AnalysisInfo` as JSON in ``info``.

    Raises:
        UsageError: A fixed k above the number of images.
    """
    vectors = np.asarray(index.vectors, dtype=np.float32)
    n = len(vectors)
    check_clusters(params.clusters, images=n)
    seed = params.seed
    if n > EXACT_GRAPH_LIMIT:
        # NN-descent reports nothing until it is done (see neighbor_graph): one step
        step = progress("neighbours (NN-descent)", 1)
        neighbors, scores = neighbor_graph(vectors, k=GRAPH_NEIGHBORS, seed=seed)
        step(1)
    else:
        neighbors, scores = neighbor_graph(
            vectors, k=GRAPH_NEIGHBORS, seed=seed, progress=progress("neighbours", n)
        )
    clustering = cluster(vectors, n_clusters=params.clusters, seed=seed, progress=progress)
    coords = embed_2d(vectors, neighbors=neighbors, scores=scores, seed=seed, progress=progress)
    groups = near_duplicate_groups(index, neighbors, scores, threshold=params.dup_threshold)
    info = AnalysisInfo(
        params=params,
        k=clustering.k,
        method=clustering.method,
        silhouette=clustering.silhouette,
        candidates=clustering.candidates,
        dup_threshold_default=default_dup_threshold(index.backbone.name),
        duplicate_groups=len(groups),
        generation=index.manifest.get("generation"),
    )
    return Analysis(
        clustering.labels, clustering.centers, coords, neighbors, scores, info.to_json()
    )


def regroup(index: Index, analysis: Analysis, info: AnalysisInfo, threshold: float) -> Analysis:
    """The analysis with its duplicates counted at ``threshold`` (graph, clusters, map kept)."""
    groups = near_duplicate_groups(index, analysis.neighbors, analysis.scores, threshold=threshold)
    new = replace(
        info,
        params=replace(info.params, dup_threshold=threshold),
        duplicate_groups=len(groups),
        dup_threshold_default=default_dup_threshold(index.backbone.name),
        repaired=False,
    )
    return replace(analysis, info=new.to_json())


@dataclass(frozen=True)
class Refreshed:
    """What :func:`ensure_analysis` found or made.

    Attributes:
        index: The index (open).
        analysis: An analysis current for the parameters asked for.
        info: Its entry, typed.
        reused: Whether the clusters and map were kept (only the duplicate
            count may have been redone).
        previous_k: k of the analysis replaced, when the clusters were recomputed.
    """

    index: Index
    analysis: Analysis
    info: AnalysisInfo
    reused: bool
    previous_k: int | None = None


def ensure_analysis(
    index: Index,
    params: AnalysisParams | None = None,
    *,
    progress: Progress = no_progress,
    command: str = "explorer (analysis)",
) -> Refreshed:
    """An analysis of ``index`` current for ``params``, recomputed and stored where stale.

    Args:
        index: The open index.
        params: Parameters wanted; ``None`` for those of the stored analysis
            (after ``add``, a stale analysis is recomputed as it was made).
        progress: Progress hook.
        command: Who holds the lock while the analysis is stored.

    Raises:
        IndexLockedError: It must be stored but another process is writing the index.
    """
    wanted = stored_params(index) if params is None else params
    analysis = index.analysis()
    info = stored_info(index) if analysis is not None else None
    state = staleness(info, wanted, generation=index.manifest.get("generation"))
    if state is Staleness.CURRENT and analysis is not None and info is not None:
        return Refreshed(index, analysis, info, reused=True)
    check_unlocked(index.path)  # fail now, not after computing what could not be stored
    if state is Staleness.GROUPS and analysis is not None and info is not None:
        analysis = regroup(index, analysis, info, wanted.dup_threshold)
        reused, previous = True, None
    else:
        analysis = analyse(index, wanted, progress=progress)
        reused, previous = False, (info.k if info is not None else None)
    with lock_index(index.path, command=command):
        save_analysis(index.path, analysis)
    new = AnalysisInfo.from_json(analysis.info, defaults=wanted)
    return Refreshed(index, analysis, new, reused=reused, previous_k=previous)


def current_analysis(
    index_path: Path, *, progress: Progress = no_progress
) -> tuple[Index, Analysis]:
    """The index and an analysis of its current rows, made with the stored parameters.

    A stale analysis (after ``add``) is recomputed with the parameters it was
    made with; none stored means automatic k, the backbone's threshold and the
    build's seed.
    """
    done = ensure_analysis(Index(index_path), progress=progress)
    return done.index, done.analysis
