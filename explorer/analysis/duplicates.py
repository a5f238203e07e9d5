"""Near-duplicate and exact-duplicate groups: the one place the rule is applied.

A pair is a candidate when it is an edge of the neighbour graph; it scores the
cosine of the raw backbone features (a similarity that does not depend on the
collection, unlike the PCA fitted on it), must reach the threshold and pass
the :class:`~explorer.analysis.pixelcheck.PixelCheck`. Groups are complete
linkage; byte-identical files stand behind one of them in that step, so they
join their near-duplicates together, and form an exact group of their own when
they have none. The cost is linear in ``n * k``: nothing builds an ``n x n``
matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.analysis.params import check_dup_threshold
from explorer.analysis.pixelcheck import PixelCheck
from explorer.features.base import DEFAULT_DUP_THRESHOLD
from explorer.store.index import Index


@dataclass(frozen=True)
class DuplicateGroup:
    """A group of near-duplicate images, or of byte-identical copies.

    Attributes:
        members: Sorted image indices.
        pairs: ``(i, j, cosine)`` with ``i < j``, sorted: for a near-duplicate
            group every pair of members (each at or above the threshold, and
            1.0 between byte-identical twins); for an exact group the first
            member with each other one, at 1.0.
        exact: Whether all the members are byte-identical copies of one file.
    """

    members: list[int]
    pairs: list[tuple[int, int, float]]
    exact: bool = False


def find_duplicates(
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    threshold: float = DEFAULT_DUP_THRESHOLD,
    hashes: Sequence[str] | None = None,
    features: NDArray[np.floating[Any]] | None = None,
    verify: Callable[[int, int], bool] | None = None,
) -> list[DuplicateGroup]:
    """Near-duplicate groups in which every two members are near-duplicates, plus exact copies.

    Byte-identical images (same ``hashes`` entry) are one picture: in the
    near-duplicate step the first of them stands for all (a twin's graph edges
    count as its), and a group it joins takes its twins too, at 1.0 with it and
    at its scores with the others. Twins that join no near-duplicate form their
    own group, marked ``exact``. The near-duplicate step is complete linkage, grown
    greedily: the image with the most candidate partners at or above the
    threshold seeds a group; its partners join, best score first, only when
    they score at or above the threshold with *every* member already in. An
    image belongs to at most one group, so ``A ~ B ~ C`` with ``A`` and ``C``
    below the threshold never becomes one group.

    Candidates are the edges of the given graph, so the cost is linear in
    ``n * k`` (plus the pairs inside the groups found).

    Args:
        neighbors: ``(n, k)`` neighbour indices (self excluded; negative = none).
        scores: ``(n, k)`` similarities matching ``neighbors``; ignored when
            ``features`` is given.
        threshold: Cosine similarity in ``(0, 1]``; a pair counts when its
            score is ``>= threshold``.
        hashes: Optional content hash per image, for the exact groups.
        features: Optional ``(n, d)`` vectors whose cosine scores every pair
            (candidate edges and the pairs inside a group). Without them only
            graph edges are known, and a pair missing from the graph counts as
            below the threshold.
        verify: Optional second test of a pair at or above the threshold
            (``verify(i, j) -> bool``), e.g. a pixel check; a pair it rejects
            does not count.

    Returns:
        Groups of two or more images, largest first, then by first member.

    Raises:
        UsageError: If ``threshold`` is outside ``(0, 1]``.
        ValueError: If the shapes differ.
    """
    check_dup_threshold(threshold, name="threshold")
    nbrs = np.asarray(neighbors)
    sc = np.asarray(scores)
    if nbrs.ndim != 2 or sc.shape != nbrs.shape:
        raise ValueError(
            f"neighbors and scores must have the same (n, k) shape, got {nbrs.shape} and {sc.shape}"
        )
    n = nbrs.shape[0]
    if features is not None and len(features) != n:
        raise ValueError(f"features must hold one row per image ({n}), got {len(features)}")
    if hashes is not None and len(hashes) != n:
        raise ValueError(f"hashes must hold one entry per image ({n}), got {len(hashes)}")
    if features is not None:
        sc = edge_scores(features, nbrs)
        norms = row_norms(features)
    exact = _exact_groups(hashes) if hashes is not None else []
    twins = {g.members[0]: g.members for g in exact}
    stand_in = np.arange(n)
    for g in exact:
        stand_in[g.members] = g.members[0]
    taken = stand_in != np.arange(n)  # a twin is represented by its group's first member
    groups: list[DuplicateGroup] = []

    lo, hi, vals = unique_pairs(nbrs, sc)
    lo, hi = stand_in[lo], stand_in[hi]
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    ok = (vals >= threshold) & (lo != hi)
    partners: dict[int, dict[int, float]] = {}
    for a, b, v in zip(lo[ok].tolist(), hi[ok].tolist(), vals[ok].tolist(), strict=True):
        if v <= partners.get(a, {}).get(b, -1.0):
            continue  # the same pair again, through a twin
        if verify is not None and not verify(a, b):
            continue
        partners.setdefault(a, {})[b] = v
        partners.setdefault(b, {})[a] = v

    def pair(a: int, b: int) -> float | None:
        if features is None or b in partners.get(a, {}):
            return partners.get(a, {}).get(b)
        fa = np.asarray(features[a], dtype=np.float32)
        fb = np.asarray(features[b], dtype=np.float32)
        den = float(norms[a] * norms[b])
        score = float(fa @ fb) / den if den > 0 else 0.0
        if score < threshold or (verify is not None and not verify(a, b)):
            return None
        return score

    # densest seeds first: the image with most partners, then the best total score
    seeds = sorted(partners, key=lambda a: (-len(partners[a]), -sum(partners[a].values()), a))
    for seed in seeds:
        if taken[seed]:
            continue
        members = [seed]
        edges: list[tuple[int, int, float]] = []
        free = [(v, b) for b, v in partners[seed].items() if not taken[b]]
        for _, cand in sorted(free, key=lambda t: (-t[0], t[1])):
            with_all = [(m, pair(cand, m)) for m in members]
            if all(s is not None and s >= threshold for _, s in with_all):
                members.append(cand)
                edges += [
                    (min(m, cand), max(m, cand), float(s)) for m, s in with_all if s is not None
                ]
        if len(members) < 2:
            continue
        taken[members] = True
        groups.append(_with_twins(members, edges, twins))
    joined = {m for g in groups for m in g.members}
    groups += [g for g in exact if g.members[0] not in joined]
    return sorted(groups, key=lambda g: (-len(g.members), g.members[0]))


def _with_twins(
    members: list[int], edges: list[tuple[int, int, float]], twins: dict[int, list[int]]
) -> DuplicateGroup:
    """A near-duplicate group over stand-ins, each with its byte-identical twins added.

    Every pair of the result is listed: a twin scores as its stand-in does, and
    1.0 with it.
    """
    family = {m: twins.get(m, [m]) for m in members}
    pairs = [(min(x, y), max(x, y), s) for a, b, s in edges for x in family[a] for y in family[b]]
    for f in family.values():
        pairs += [(x, y, 1.0) for i, x in enumerate(f) for y in f[i + 1 :]]
    return DuplicateGroup(
        members=sorted(x for f in family.values() for x in f), pairs=sorted(pairs), exact=False
    )


def unique_pairs(
    neighbors: NDArray[np.int32], scores: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Every distinct pair of the graph once: ``(i, j, score)`` arrays with ``i < j``.

    Missing neighbours (negative or out of range) and self-edges are left out;
    a pair listed from both ends keeps the score of its first listing (row order).
    """
    n, k = neighbors.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = neighbors.reshape(-1).astype(np.int64)
    vals = scores.reshape(-1).astype(np.float64)
    ok = (cols >= 0) & (cols < n) & (cols != rows)
    lo, hi = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok])
    _, first = np.unique(lo * n + hi, return_index=True)
    return lo[first], hi[first], vals[ok][first]


def edge_scores(
    features: NDArray[np.floating[Any]], neighbors: NDArray[np.int32]
) -> NDArray[np.float32]:
    """Cosine of every graph edge ``(i, neighbors[i, c])`` between rows of ``features``.

    Computed block by block (at most about 16 M gathered values at a time), so
    memory stays linear in ``n`` even for a memory-mapped ``(n, 4096)`` matrix;
    a missing neighbour (negative index) scores ``-1``.
    """
    nbrs = np.asarray(neighbors)
    n, k = nbrs.shape
    d = int(features.shape[1]) if features.ndim == 2 else 1
    norms = row_norms(features)
    out = np.full(nbrs.shape, -1.0, dtype=np.float32)
    block = max(1, (1 << 24) // max(1, k * d))
    for start in range(0, n, block):
        idx = nbrs[start : start + block]
        safe = np.where(idx >= 0, idx, 0)
        a = np.asarray(features[start : start + block], dtype=np.float32)
        b = np.asarray(features[safe.reshape(-1)], dtype=np.float32).reshape(*safe.shape, d)
        dots = np.einsum("nd,nkd->nk", a, b)
        den = norms[start : start + block, None] * norms[safe]
        sims = np.clip(dots / np.where(den > 0, den, 1.0), -1.0, 1.0)
        out[start : start + block] = np.where(idx >= 0, sims, -1.0)
    return out


def row_norms(features: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """The L2 norm of every row, read block by block (float32)."""
    n = len(features)
    out = np.empty(n, dtype=np.float32)
    block = 8192
    for start in range(0, n, block):
        out[start : start + block] = np.linalg.norm(
            np.asarray(features[start : start + block], dtype=np.float32), axis=1
        )
    return out


def same_bytes(hashes: Sequence[str]) -> list[list[int]]:
    """Rows that hold byte-identical files: one sorted list per content hash held twice or more."""
    by_hash: dict[str, list[int]] = {}
    for idx, h in enumerate(hashes):
        by_hash.setdefault(h, []).append(idx)
    return [m for m in by_hash.values() if len(m) >= 2]


def _exact_groups(hashes: Sequence[str]) -> list[DuplicateGroup]:
    """One exact group per content hash held by two or more images."""
    return [
        DuplicateGroup(members=m, pairs=[(m[0], other, 1.0) for other in m[1:]], exact=True)
        for m in same_bytes(hashes)
    ]


def near_duplicate_groups(
    index: Index,
    neighbors: NDArray[np.int32],
    scores: NDArray[np.float32],
    *,
    threshold: float,
) -> list[DuplicateGroup]:
    """The duplicate groups of an index: the one place the rule is applied.

    Pairs come from the neighbour graph, are scored on the raw backbone
    features (a cosine that does not depend on the collection, unlike the PCA
    fitted on it), must reach ``threshold`` and pass the :class:`PixelCheck`;
    groups are complete-linkage (:func:`find_duplicates`); byte-identical files
    join their near-duplicates together, or form an exact group of their own.
    """
    return find_duplicates(
        neighbors,
        scores,
        threshold=threshold,
        hashes=[r.sha256 for r in index.records],
        features=index.features,
        verify=PixelCheck(index.thumbnails()),
    )


def duplicate_scores(index: Index, neighbors: NDArray[np.int32]) -> NDArray[np.float32]:
    """The near-duplicate score of every graph edge: the cosine of the raw backbone features."""
    return edge_scores(index.features, neighbors)
