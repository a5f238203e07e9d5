"""The collection as a catalogue: clusters, duplicate groups, tags and the export table.

Plain functions over an index for the ``clusters``, ``duplicates``, ``tag``,
``untag`` and ``export`` commands. They never touch the model; when the stored
analysis is missing or stale (after ``add``) it is recomputed first.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from explorer.analysis.calibration import histogram, pair_curve, pairs_near
from explorer.analysis.clustering import ClusterSummary, describe_clusters
from explorer.analysis.duplicates import duplicate_scores
from explorer.analysis.keepers import DuplicateSet, csv_text, duplicate_sets
from explorer.analysis.params import check_dup_threshold
from explorer.analysis.pixelcheck import PixelCheck
from explorer.analysis.stored import current_analysis, ensure_analysis
from explorer.errors import UsageError
from explorer.inputs.capture import read_location
from explorer.progress import Progress, no_progress
from explorer.store.index import Index
from explorer.store.rows import record_file, record_path
from explorer.store.tagfiles import read_selection, read_tag_export
from explorer.store.tags import add_tags, change_tags, load_tags


def clusters(
    index_path: Path, *, per_cluster: int = 8, progress: Progress = no_progress
) -> tuple[Index, list[ClusterSummary], list[int]]:
    """Every cluster described, and each image's cluster (row order)."""
    index, analysis = current_analysis(index_path, progress=progress)
    classes = index.classes()
    summaries = describe_clusters(
        np.asarray(index.vectors, dtype=np.float32),
        analysis.labels,
        analysis.centers,
        class_ids=classes[0] if classes else None,
        class_probs=classes[1] if classes else None,
        per_cluster=per_cluster,
    )
    return index, summaries, [int(x) for x in analysis.labels]


def duplicates(
    index_path: Path, *, threshold: float | None = None, progress: Progress = no_progress
) -> tuple[Index, list[DuplicateSet], float]:
    """Duplicate groups at ``threshold`` (default: the analysis' threshold).

    Raises:
        UsageError: ``threshold`` outside (0, 1].
    """
    if threshold is not None:
        check_dup_threshold(threshold, name="threshold")  # before any work
    done = ensure_analysis(Index(index_path), progress=progress)
    index, analysis = done.index, done.analysis
    t = done.info.params.dup_threshold if threshold is None else threshold
    sets = duplicate_sets(index, analysis.neighbors, analysis.scores, threshold=t)
    shown = openable_paths(index)
    sets = [replace(s, members=[replace(m, path=shown[m.row]) for m in s.members]) for s in sets]
    return index, sets, t


@dataclass
class Calibration:
    """Evidence for choosing a near-duplicate threshold."""

    threshold: float
    counts: list[tuple[float, int]]
    above: list[tuple[str, str, float]]
    below: list[tuple[str, str, float]]
    curve: list[tuple[int, float, bool | None]]


def calibrate(
    index_path: Path, *, threshold: float | None = None, progress: Progress = no_progress
) -> Calibration:
    """Pairs above each threshold, the score per pair rank, example pairs either side of the cut."""
    if threshold is not None:
        check_dup_threshold(threshold, name="threshold")  # before any work
    done = ensure_analysis(Index(index_path), progress=progress)
    index, analysis = done.index, done.analysis
    t = done.info.params.dup_threshold if threshold is None else threshold
    scores = duplicate_scores(index, analysis.neighbors)
    above, below = pairs_near(analysis.neighbors, scores, threshold=t)
    name = openable_paths(index)
    return Calibration(
        threshold=t,
        counts=histogram(analysis.neighbors, scores),
        above=[(name[a], name[b], s) for a, b, s in above],
        below=[(name[a], name[b], s) for a, b, s in below],
        curve=pair_curve(
            analysis.neighbors, scores, check=PixelCheck(index.thumbnails()), threshold=t
        ),
    )


def openable_paths(index: Index) -> list[str]:
    """Every image's path as it can be opened from the current folder.

    Relative to the current folder when the file lies under it, else absolute.
    """
    root = Path(index.root)
    cwd = os.getcwd() + os.sep
    out = []
    for r in index.records:
        full = os.fspath(record_file(r, root))
        out.append(os.path.relpath(full) if full.startswith(cwd) else full)
    return out


def record_paths(index: Index, files: Sequence[Path]) -> list[str]:
    """Index record paths of files given on the command line.

    Raises:
        UsageError: If a file is not in the index.
    """
    known = {r.path for r in index.records}
    root = Path(index.root)
    out = []
    for f in files:
        key = record_path(Path(os.path.abspath(f)), root)
        if key not in known:
            raise UsageError(f"not in the index: {f} (add it with 'explorer add {f}')")
        out.append(key)
    return out


def tag(
    index_path: Path,
    label: str,
    *,
    files: Sequence[Path] = (),
    cluster: int | None = None,
    remove: bool = False,
) -> int:
    """Tag (or untag) images given as files and/or as a whole cluster.

    Returns:
        How many images changed.

    Raises:
        UsageError: Nothing chosen, an unknown file, or a cluster out of range.
    """
    if not files and cluster is None:
        raise UsageError("name images to tag, or a cluster with --cluster N")
    if cluster is not None:
        index, analysis = current_analysis(index_path)
        k = int(analysis.centers.shape[0])
        if not 0 <= cluster < k:
            raise UsageError(f"cluster must be between 0 and {k - 1}, got {cluster}")
        paths = [
            r.path for r, c in zip(index.records, analysis.labels, strict=True) if c == cluster
        ]
    else:
        index = Index(index_path)
        paths = []
    paths += record_paths(index, files)
    return change_tags(index_path, paths, label, remove=remove)


@dataclass(frozen=True)
class TagImport:
    """What ``explorer tag --import`` or ``--from`` did.

    Attributes:
        added: (image, tag) pairs that were new.
        images: Images of the file found in the index.
        unknown: Paths of the file not in the index (skipped), first few.
        n_unknown: How many paths were skipped.
    """

    added: int
    images: int
    unknown: list[str]
    n_unknown: int


def _known_only(index_path: Path, additions: dict[str, list[str]]) -> TagImport:
    known = {r.path for r in Index(index_path).records}
    kept = {p: ts for p, ts in additions.items() if p in known}
    unknown = [p for p in additions if p not in known]
    added = add_tags(index_path, kept) if kept else 0
    return TagImport(added=added, images=len(kept), unknown=unknown[:5], n_unknown=len(unknown))


def import_tags(index_path: Path, file: Path) -> TagImport:
    """Merge a tag file the report exported (JSON or CSV) into the index's tags.

    Paths the index no longer holds are skipped and counted.

    Raises:
        UsageError: An unreadable or foreign file, or an invalid tag (nothing written).
    """
    return _known_only(index_path, read_tag_export(file))


def tag_selection(index_path: Path, selection: Path, label: str) -> TagImport:
    """Tag every image of a ``selection.csv`` the report downloaded with ``label``.

    Raises:
        UsageError: An unreadable or foreign file, or an invalid tag.
    """
    return _known_only(index_path, {p: [label] for p in read_selection(selection)})


EXPORT_COLUMNS = (
    "path",
    "cluster",
    "cluster_name",
    "tags",
    "duplicate_group",
    "keep",
    "exact",
    "taken",
    "taken_source",
    "camera",
    "width",
    "height",
    "has_gps",
)
GPS_COLUMNS = ("latitude", "longitude")


def export_rows(
    index_path: Path, *, gps: bool = False, progress: Progress = no_progress
) -> list[dict[str, object]]:
    """One row per image: path, cluster, cluster name, tags, duplicate group, capture facts.

    Args:
        index_path: The index.
        gps: Also give each image's GPS coordinates (``latitude``, ``longitude``),
            read from the file itself: the index never holds them.
        progress: Progress hook.

    Returns:
        The rows, in index order. ``tags`` is a list; ``duplicate_group``,
        ``keep`` and ``exact`` are ``None`` for an image in no group, and so are
        capture facts an older index lacks (:func:`rows_csv` writes lists as
        ``a;b`` and ``None`` empty).
    """
    index, summaries, labels = clusters(index_path, progress=progress)
    _, sets, _ = duplicates(index_path)
    tags = load_tags(index_path)
    group: dict[int, tuple[int, bool, bool]] = {}
    for s in sets:
        for m in s.members:
            group[m.row] = (s.group, m.keep, m.exact)
    names = [c.name for c in summaries]
    shown = openable_paths(index)
    rows: list[dict[str, object]] = []
    for i, r in enumerate(index.records):
        g = group.get(i)
        rows.append(
            {
                "path": shown[i],
                "cluster": labels[i],
                "cluster_name": names[labels[i]],
                "tags": list(tags.get(r.path, [])),
                "duplicate_group": None if g is None else g[0],
                "keep": None if g is None else g[1],
                "exact": None if g is None else g[2],
                "taken": r.taken,
                "taken_source": r.taken_source,
                "camera": r.camera,
                "width": r.width,
                "height": r.height,
                "has_gps": r.has_gps,
            }
        )
        if gps:
            where = read_location(record_file(r, Path(index.root))) if r.has_gps else None
            rows[-1].update(zip(GPS_COLUMNS, where or (None, None), strict=True))
    return rows


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def rows_csv(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header: lists as ``a;b``, ``None`` empty, booleans 1/0;
    text cells are made safe for spreadsheets."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_text(_csv_cell(v)) for k, v in row.items()} for row in rows)
    return buf.getvalue()
