"""The public Python API: what each command does, as plain functions that print nothing.

``explorer.build``, ``explorer.add``, ``explorer.similar``, ``explorer.page``
and ``explorer.open_index`` are these functions (``explorer/__init__.py``
loads this module on first use). They take ``str`` or ``os.PathLike`` paths,
have the command line's defaults (the index in ``./.explorer``; the index's
own backbone and weights, else VGG16 with ImageNet weights) and raise
:class:`~explorer.errors.ExplorerError` subclasses for what a user can fix.
The environment variables ``EXPLORER_INDEX`` and ``EXPLORER_WEIGHTS`` are the
command line's; these functions do not read them.

Example:
    >>> import explorer
    >>> explorer.build("photos", backbone="pixels", write_report=False)  # doctest: +SKIP
    >>> explorer.similar(["photos/cat.jpg"], k=3)[0].matches  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from explorer.analysis.pca import PCA_COMPONENTS
from explorer.progress import Progress, no_progress

if TYPE_CHECKING:
    from explorer.jobs.build import BuildSummary
    from explorer.jobs.report import ReportSummary
    from explorer.jobs.similar import QueryResult
    from explorer.store.index import Index

PathLike: TypeAlias = "str | os.PathLike[str]"
Clusters: TypeAlias = 'int | Literal["auto", "stored"]'

DEFAULT_INDEX = Path(".explorer")


def open_index(index: PathLike = DEFAULT_INDEX) -> Index:
    """Open an index for reading.

    Raises:
        IndexMissingError: No index there.
        IndexCorruptError: The index is damaged or foreign.
    """
    from explorer.store.index import Index

    return Index(Path(index))


def build(
    folder: PathLike,
    *,
    index: PathLike = DEFAULT_INDEX,
    backbone: str | None = None,
    weights: str | None = None,
    fresh: bool = False,
    n_components: int = PCA_COMPONENTS,
    seed: int = 0,
    clusters: Clusters = "stored",
    dup_threshold: float | None = None,
    write_report: bool = True,
    out: PathLike | None = None,
    checkpoint_every: int | None = None,
    batch_size: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
) -> BuildSummary:
    """Index ``folder`` (new or changed images only), refit PCA, then write the report.

    Args:
        folder: The photo folder, searched recursively.
        index: The index folder (created if missing).
        backbone: ``vgg16``, ``efficientnet-lite0`` or ``pixels``; default: the
            index's own, else ``vgg16``.
        weights: ``imagenet``, ``random`` or a weights file; default: the
            index's own, else ``imagenet``.
        fresh: Replace an existing index instead of updating it.
        n_components: PCA components (at most one per image).
        seed: Seed for PCA, k-means and UMAP.
        clusters: k, ``"auto"``, or ``"stored"`` (what the stored clusters were made with).
        dup_threshold: Near-duplicate cosine threshold; default: the stored or calibrated one.
        write_report: Write the HTML report (the summary then says where).
        out: Report file; default beside the index (see :func:`report`).
        checkpoint_every: Images extracted between two checkpoints; default: the core's (128).
        batch_size: Images per model call; default: the backbone's own.
        engine: ``local`` (this process) or ``ray`` (Ray workers).
        ray_address: Ray cluster to join with ``engine="ray"``.
        workers: Ray workers; default: one per GPU, else one per CPU.
        progress: Progress hook (:mod:`explorer.progress`).

    Returns:
        What changed, with the report's path and counts when it was written.

    Raises:
        UsageError: A parameter is out of range, report options without the report.
        NoImagesError: Not one readable image.
        IncompatibleIndexError: Other weights or backbone than the index's.
        Interrupted: Ctrl-C while writing the report (the index is saved).
    """
    from explorer.errors import Interrupted, UsageError
    from explorer.jobs.build import build as run_build
    from explorer.jobs.engine import Engine, import_ray
    from explorer.jobs.extract import CHECKPOINT_EVERY
    from explorer.store.folder import check_output

    index_path, out_path = Path(index), None if out is None else Path(out)
    if not write_report:
        given = [
            name
            for name, v in (
                ("--clusters", None if clusters == "stored" else clusters),
                ("--dup-threshold", dup_threshold),
                ("--out", out),
            )
            if v is not None
        ]
        if given:
            raise UsageError(
                f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to the "
                "report, which --no-report skips: drop --no-report, or run 'explorer report "
                f"{' '.join(given)} ...' later"
            )
    run_engine = Engine(engine, ray_address, workers)
    if run_engine.name == "ray":
        import_ray()  # say what to install before any work is done
    if write_report and out_path is not None:
        check_output(out_path)  # a report path inside the index: refused before the build
    summary = run_build(
        Path(folder),
        index_path=index_path,
        backbone=backbone,
        weights=weights,
        clusters=clusters if isinstance(clusters, int) else None,
        fresh=fresh,
        seed=seed,
        n_components=n_components,
        checkpoint_every=CHECKPOINT_EVERY if checkpoint_every is None else checkpoint_every,
        batch_size=batch_size,
        engine=run_engine,
        progress=progress,
    )
    if not write_report:
        return summary
    try:
        done = report(
            index=index_path,
            out=out_path,
            clusters=clusters,
            dup_threshold=dup_threshold,
            seed=seed,
            progress=progress,
        )
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted while writing the report; the index is saved: run "
            f"'explorer report --index {os.fspath(index)}' to write it"
        ) from None
    summary.report = done.path
    summary.clusters = done.clusters
    summary.duplicate_groups = done.duplicate_groups
    if done.previous_clusters is not None:
        summary.clusters_changed = (
            f"the clusters were recomputed (k {done.previous_clusters} -> "
            f"{done.clusters}): cluster numbers may point to other images now; "
            "tags stay with their images"
        )
    return summary


def add(
    paths: PathLike | Sequence[PathLike],
    *,
    index: PathLike = DEFAULT_INDEX,
    weights: str | None = None,
    checkpoint_every: int | None = None,
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> BuildSummary:
    """Add image files and/or folders to an index with its stored PCA (no refit).

    Args:
        paths: Image files and/or folders (one path, or several).
        index: The index.
        weights: Weights to embed with; default (and the only ones allowed): the index's own.
        checkpoint_every: Images extracted between two checkpoints; default: the core's (128).
        batch_size: Images per model call; default: the backbone's own.
        progress: Progress hook.

    Returns:
        What changed.

    Raises:
        UsageError: A path does not exist.
        IndexMissingError: No index yet.
        IncompatibleIndexError: ``weights`` differ from the index's.
        NoImagesError: No readable new image.
    """
    from explorer.jobs.build import add as run_add
    from explorer.jobs.extract import CHECKPOINT_EVERY

    return run_add(
        _paths(paths),
        index_path=Path(index),
        weights=weights,
        checkpoint_every=CHECKPOINT_EVERY if checkpoint_every is None else checkpoint_every,
        batch_size=batch_size,
        progress=progress,
    )


def similar(
    images: PathLike | Sequence[PathLike],
    *,
    index: PathLike = DEFAULT_INDEX,
    k: int = 5,
    weights: str | None = None,
    progress: Progress = no_progress,
) -> list[QueryResult]:
    """The ``k`` indexed images most similar to each query image (cosine in PCA space).

    Args:
        images: Query images and/or folders; they need not be indexed.
        index: The index to search.
        k: Results per query.
        weights: Weights to embed new images with; default: the index's own.
        progress: Progress hook for embedding queries that are not indexed.

    Returns:
        One result per query image, in the order given; an indexed query never
        returns itself.

    Raises:
        UsageError: ``k`` below 1, or a query that does not exist.
        NoImagesError: The queries hold no image file.
    """
    from explorer.jobs.similar import similar as run_similar

    return run_similar(
        _paths(images), index_path=Path(index), k=k, weights=weights, progress=progress
    )


def report(
    *,
    index: PathLike = DEFAULT_INDEX,
    out: PathLike | None = None,
    clusters: Clusters = "stored",
    dup_threshold: float | None = None,
    seed: int | None = None,
    progress: Progress = no_progress,
) -> ReportSummary:
    """Write the standalone HTML report of an index, without the model.

    Args:
        index: The index.
        out: HTML file; default ``reports/<folder>.html`` beside the index
            (``<folder>-<index>.html`` for an index not named ``.explorer``).
        clusters: k, ``"auto"``, or ``"stored"`` (keep what the stored clusters were made with).
        dup_threshold: Near-duplicate cosine threshold; default: the stored or calibrated one.
        seed: Seed for k-means and UMAP; default: the build's.
        progress: Progress hook.

    Returns:
        Where the report went and what it shows.
    """
    from explorer.jobs.report import report as run_report

    return run_report(
        Path(index),
        out=None if out is None else Path(out),
        clusters=clusters,
        dup_threshold=dup_threshold,
        seed=seed,
        progress=progress,
    )


def _paths(given: PathLike | Sequence[PathLike]) -> list[Path]:
    """One path or several, as a list of ``Path`` (a lone ``str`` is one path, not characters)."""
    if isinstance(given, str | os.PathLike):
        return [Path(given)]
    return [Path(p) for p in given]
