"""The commit stage of build and add: rows into one new index generation, saved atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from explorer.analysis.pca import fit_projection, project
from explorer.features.base import BackboneInfo
from explorer.jobs.plan import Plan
from explorer.progress import Progress, no_progress
from explorer.store.checkpoints import clear_chunks
from explorer.store.commit import save_index
from explorer.store.records import IndexData, Projection, SkipRecord
from explorer.store.rows import Rows, sort_key


def carried_rows(plan: Plan) -> Rows:
    """The rows a plan carries over without extraction: checkpoint rows, then old rows.

    Raises:
        IndexCorruptError: The old index's features fail their checksum (damaged
            rows are never copied into a new generation).
    """
    rows = Rows()
    for chunk, j, record in plan.resumed:
        rows.add_chunk_row(chunk, j, record=record)
    if plan.old is not None:
        rows.add_index_rows(plan.old, plan.kept)
    return rows


def commit(
    index_path: Path,
    rows: Rows,
    *,
    root: Path,
    backbone: BackboneInfo,
    skipped: list[SkipRecord],
    meta: dict[str, Any],
    seed: int = 0,
    n_components: int,
    projection: Projection | None = None,
    progress: Progress = no_progress,
) -> IndexData:
    """Save ``rows`` as the index's next generation, then drop the checkpoints.

    Args:
        index_path: The index folder.
        rows: Every row of the new generation, in any order.
        root: The indexed folder.
        backbone: The backbone every row was extracted with.
        skipped: The skip list of the new generation.
        meta: Stored with the generation (a build's seed).
        seed: Seed of a PCA fit.
        n_components: PCA components wanted.
        projection: A stored PCA to project with instead of fitting one.
        progress: Progress hook (``PCA``, ``projecting``, then the save's own).

    Returns:
        What was saved.
    """
    data = assemble(
        rows,
        root=root,
        backbone=backbone,
        skipped=skipped,
        seed=seed,
        n_components=n_components,
        projection=projection,
        progress=progress,
    )
    data.meta = meta
    save_index(index_path, data, progress=progress)
    clear_chunks(index_path)
    return data


def assemble(
    rows: Rows,
    *,
    root: Path,
    backbone: BackboneInfo,
    skipped: list[SkipRecord],
    seed: int,
    n_components: int,
    projection: Projection | None = None,
    progress: Progress = no_progress,
) -> IndexData:
    """Sort rows, fit (or reuse) PCA and project: a complete index generation.

    Progress: ``PCA`` (one step: scikit-learn's fit reports nothing while it
    runs) when it is fitted, then ``projecting`` (rows).
    """
    rows = rows.sorted()
    features = rows.feature_matrix(backbone.dim)
    if projection is None:
        step = progress("PCA", 1)
        projection = fit_projection(features, n_components=n_components, seed=seed)
        step(1)
    vectors = project(features, projection, progress=progress("projecting", len(features)))
    classes = rows.classes()
    return IndexData(
        root=str(root),
        backbone=backbone,
        records=rows.records,
        skipped=sorted(skipped, key=lambda s: sort_key(s.path)),
        features=features,
        vectors=vectors,
        projection=projection,
        thumbnails=rows.thumbnails,
        class_ids=classes[0] if classes else None,
        class_probs=classes[1] if classes else None,
    )
