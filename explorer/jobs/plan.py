"""The plan stage of build and add: what is new, changed, unchanged or gone.

A :class:`Plan` is decided from a scan against the old index and the
checkpoints an interrupted run left; the extract stage fills it in
(:meth:`Plan.absorb`), and :attr:`Plan.nothing_to_do` then says whether the
index on disk is already what a build would write.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from explorer.analysis.pca import PCA_COMPONENTS
from explorer.errors import ExplorerError, IncompatibleIndexError, UsageError
from explorer.features.base import IMAGENET_WEIGHTS, BackboneInfo, BackboneSpec
from explorer.features.registry import check_requested_weights, get_spec
from explorer.fs import file_sha256
from explorer.inputs.scan import Candidate, Scan, scan_folder, scan_paths
from explorer.inputs.skips import Skipped
from explorer.store.checkpoints import Chunk, checkpoint_backbone, read_chunks
from explorer.store.index import Index, index_exists
from explorer.store.records import ImageRecord, SkipRecord
from explorer.store.rows import Rows, record_path, sort_key, touched, upgraded

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What one build or add does to an index, row by row.

    ``kept`` and ``resumed`` rows are carried into the new generation without
    extraction; ``todo`` files are extracted, and :meth:`absorb` moves the
    outcome into ``extracted`` and ``skipped``.
    """

    root: Path
    old: Index | None
    expected: BackboneInfo | None  # the backbone new rows must match, once one is fixed
    seed: int = 0
    n_components: int = PCA_COMPONENTS
    todo: list[Candidate] = field(default_factory=list)  # new or changed files
    kept: list[tuple[int, ImageRecord]] = field(default_factory=list)  # (row in old, record)
    resumed: list[tuple[Chunk, int, ImageRecord]] = field(default_factory=list)  # checkpoint rows
    skipped: list[SkipRecord] = field(default_factory=list)  # found unreadable in this run
    carried_skips: list[SkipRecord] = field(default_factory=list)  # old skips still standing
    extracted: Rows = field(default_factory=Rows)
    unchanged: int = 0
    removed: int = 0
    ignored: int = 0

    def absorb(self, rows: Rows, skipped: list[SkipRecord]) -> None:
        """Take in what extraction made of ``todo``; an old row it replaces is no longer kept."""
        replaced = {r.path for r in rows.records}
        self.kept = [(i, r) for i, r in self.kept if r.path not in replaced]
        self.extracted.extend(rows)
        self.skipped.extend(skipped)
        self.todo = []

    @property
    def updated(self) -> int:
        """Extracted rows that replace a row of the old index."""
        old = {r.path for r in self.old.records} if self.old is not None else set()
        return sum(1 for r in self.extracted.records if r.path in old)

    @property
    def indexed(self) -> int:
        """Extracted rows of files the old index did not hold."""
        return len(self.extracted) - self.updated

    @property
    def images(self) -> int:
        """Rows of the new generation."""
        return len(self.kept) + len(self.resumed) + len(self.extracted)

    @property
    def skip_counts(self) -> dict[str, int]:
        """Files found unreadable in this run, by reason."""
        return dict(Counter(s.reason for s in self.skipped))

    def all_skips(self) -> list[SkipRecord]:
        """The skip list of the new generation, in record-path order."""
        gone = {r.path for r in self.extracted.records} | {s.path for s in self.skipped}
        carried = [s for s in self.carried_skips if s.path not in gone]
        return sorted(carried + self.skipped, key=lambda s: sort_key(s.path))

    @property
    def nothing_to_do(self) -> bool:
        """The index on disk is already what this plan would write (nothing left to extract)."""
        old = self.old
        if old is None or not old.sealed:  # an unsealed (schema 1) manifest is rewritten, sealed
            return False
        if self.todo or self.extracted or self.resumed:
            return False
        if self.kept != list(enumerate(old.records)) or self.all_skips() != old.skipped:
            return False
        # the stored PCA is read last, only when everything else matches
        seed = int(old.manifest.get("meta", {}).get("seed", -1))
        fitted = min(self.n_components, len(old), old.backbone.dim)
        return seed == self.seed and old.projection().n_components == fitted


def choose_model(
    index_path: Path,
    *,
    old: Index | None,
    root: Path,
    backbone: str | None,
    weights: str | None,
    fresh: bool,
    seed: int,
) -> tuple[BackboneSpec, str]:
    """The backbone and weights a build uses: as asked, else the index's (or interrupted run's).

    Raises:
        UsageError: ``weights`` for a backbone with its own, or the index holds another folder.
        IncompatibleIndexError: The index holds another backbone or weights.
    """
    if old is not None:
        existing: BackboneInfo | None = old.backbone
    elif fresh:
        existing = _readable_backbone(index_path)
    else:
        existing = checkpoint_backbone(index_path)  # an interrupted first build
    if backbone is None:
        backbone = existing.name if existing is not None else "vgg16"
    spec = get_spec(backbone)
    again = existing is not None and existing.name == spec.name and spec.needs_weights
    if weights is None and old is None and existing is not None and again:
        # --fresh, or an interrupted first build: the same network and weights again
        weights = existing.weights
    if weights is not None and not spec.needs_weights:
        raise UsageError(
            f"--weights does not apply to the {spec.name} backbone: it brings its own "
            "weights; drop --weights"
        )
    if old is not None:
        _check_same_index(old, spec_name=spec.name, root=root, index_path=index_path)
        if weights is not None:
            check_requested_weights(weights, old.backbone, seed=seed)
    return spec, weights or (old.backbone.weights if old else IMAGENET_WEIGHTS)


def plan_build(
    root: Path,
    *,
    index_path: Path,
    old: Index | None,
    spec: BackboneSpec,
    weights: str,
    seed: int,
    n_components: int,
    clusters: int | None = None,
) -> Plan:
    """Compare ``root`` with the old index and the checkpoints: what to keep, resume, extract.

    A file with the old size and modification time keeps its row (an index
    made before capture facts were kept gains them from the file's header); a
    file whose time moved but whose bytes did not keeps its row with the new
    time; anything else is extracted.

    Raises:
        UsageError: ``clusters`` is not between 1 and the number of images found.
    """
    scan = _scan_build(root, index_path=index_path, old=old)
    chunks = _chunk_rows(
        index_path,
        backbone=spec.name,
        weights=weights,
        expected=old.backbone if old else None,
        any_weights=not spec.needs_weights,  # the backbone brings its own weights
    )
    first = next((c.backbone for c, _ in chunks.values()), None)
    plan = Plan(
        root=root,
        old=old,
        expected=old.backbone if old else first,
        seed=seed,
        n_components=n_components,
        skipped=[skip_record(s, root) for s in scan.skipped],
        ignored=scan.ignored,
    )
    old_pos = {r.path: i for i, r in enumerate(old.records)} if old else {}
    for cand in scan.candidates:
        key = record_path(cand.path, root)
        hit = chunks.get(key)
        if hit is not None and _same_stat(hit[0].records[hit[1]], cand):
            plan.resumed.append((*hit, upgraded(hit[0].records[hit[1]], root)))
            continue
        i = old_pos.get(key)
        if old is not None and i is not None:
            rec = old.records[i]
            if _same_stat(rec, cand):
                plan.kept.append((i, upgraded(rec, root)))
                continue
            if _content_unchanged(rec, cand):
                plan.kept.append((i, touched(rec, cand.mtime_ns, root)))
                continue
        plan.todo.append(cand)
    plan.unchanged = len(plan.kept)
    found = plan.images + len(plan.todo)
    if clusters is not None and found and not 1 <= clusters <= found:
        raise UsageError(
            f"--clusters must be between 1 and the number of images ({found}), got {clusters}"
        )
    seen = {record_path(c.path, root) for c in scan.candidates}
    plan.removed = sum(1 for r in old.records if r.path not in seen) if old else 0
    return plan


def plan_add(paths: list[Path], *, index: Index, index_path: Path, n_components: int) -> Plan:
    """What adding ``paths`` to ``index`` extracts: files not indexed, or changed since.

    Every other row and skip of the index stays, and its stored PCA of
    ``n_components`` is kept (no refit).
    """
    root = Path(index.root)
    scan = scan_paths(paths, exclude=[index_path])
    pos = {r.path: i for i, r in enumerate(index.records)}
    todo = [
        c
        for c in scan.candidates
        if (i := pos.get(record_path(c.path, root))) is None or not _same_stat(index.records[i], c)
    ]
    return Plan(
        root=root,
        old=index,
        expected=index.backbone,
        n_components=n_components,
        todo=todo,
        kept=list(enumerate(index.records)),
        skipped=[skip_record(s, root) for s in scan.skipped],
        carried_skips=list(index.skipped),
        unchanged=len(scan.candidates) - len(todo),
        ignored=scan.ignored,
    )


def skip_record(item: Skipped, root: Path) -> SkipRecord:
    """How an index records a skipped file."""
    return SkipRecord(record_path(item.path, root), item.reason.value, item.detail)


def _scan_build(root: Path, *, index_path: Path, old: Index | None) -> Scan:
    """The folder, and the files outside it that an ``add`` put into the old index."""
    scan = scan_folder(root, exclude=[index_path])
    outside = [Path(r.path) for r in (old.records if old else []) if os.path.isabs(r.path)]
    if outside:
        extra = scan_paths([p for p in outside if os.path.lexists(p)])
        scan.candidates.extend(extra.candidates)
        scan.skipped.extend(extra.skipped)
    return scan


def _same_stat(record: ImageRecord, cand: Candidate) -> bool:
    return record.size == cand.size and record.mtime_ns == cand.mtime_ns


def _content_unchanged(record: ImageRecord, cand: Candidate) -> bool:
    """Same size and same bytes, only the modification time moved."""
    if record.size != cand.size:
        return False
    try:
        return file_sha256(cand.path) == record.sha256
    except OSError:
        return False


def _chunk_rows(
    index_path: Path,
    *,
    backbone: str,
    weights: str,
    expected: BackboneInfo | None,
    any_weights: bool = False,
) -> dict[str, tuple[Chunk, int]]:
    """Rows left by an interrupted run that this run may reuse, by record path."""
    found: dict[str, tuple[Chunk, int]] = {}
    for chunk in read_chunks(index_path):
        info = chunk.backbone
        if expected is not None:
            ok = info == expected
        else:
            ok = info.name == backbone and (
                any_weights or info.weights in (weights, os.path.abspath(weights))
            )
        if not ok:
            log.warning("ignoring checkpoint rows made with %s", info.describe())
            continue
        for j, rec in enumerate(chunk.records):
            found[rec.path] = (chunk, j)
    return found


def _readable_backbone(index_path: Path) -> BackboneInfo | None:
    """The backbone an index at ``index_path`` was built with, if its manifest says."""
    if not index_exists(index_path):
        return None
    try:
        return Index(index_path).backbone
    except ExplorerError:
        return None  # a damaged index: the caller rebuilds it or reports it


def _check_same_index(old: Index, *, spec_name: str, root: Path, index_path: Path) -> None:
    if old.backbone.name != spec_name:
        raise IncompatibleIndexError(
            f"the index at {index_path} holds {old.backbone.describe()} features, not "
            f"{spec_name}; build a new one with --index PATH or replace it with --fresh"
        )
    if os.path.abspath(old.root) != str(root):
        raise UsageError(
            f"the index at {index_path} holds {old.root}; to index {root} use "
            "--index PATH for a separate index, or --fresh to replace it"
        )
