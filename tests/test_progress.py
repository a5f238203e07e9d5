"""Progress reporting: every slow stage opens a labelled bar and fills it exactly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis.clustering import cluster
from explorer.analysis.knn import exact_neighbor_graph
from explorer.analysis.layout import embed_2d
from explorer.analysis.params import AnalysisParams
from explorer.analysis.pca import fit_projection, normalize, project
from explorer.analysis.stored import analyse
from explorer.features.base import BackboneInfo
from explorer.jobs.build import add, build
from explorer.jobs.report import report
from explorer.page.thumbnails import write_sidecar
from explorer.store.commit import MB, save_index
from explorer.store.index import Index
from explorer.store.records import ImageRecord, IndexData
from tests.helpers import FAMILIES, Loads, make_family_image

WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 "  # enough of a signature for the sidecar writer


@dataclass
class Bar:
    """One bar the hook opened, and every advance it received."""

    label: str
    total: int
    advances: list[int] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(self.advances)


class Recorder:
    """A progress hook that remembers its bars and checks each advance."""

    def __init__(self) -> None:
        self.bars: list[Bar] = []

    def __call__(self, label: str, total: int) -> Callable[[int], None]:
        bar = Bar(label, total)
        self.bars.append(bar)

        def advance(n: int) -> None:
            assert n > 0, f"{label}: advanced by {n}"
            assert bar.done + n <= bar.total, f"{label}: past its total {bar.total}"
            bar.advances.append(n)

        return advance

    def totals(self) -> dict[str, int]:
        return {b.label: b.total for b in self.bars}

    def assert_filled(self) -> None:
        for bar in self.bars:
            assert bar.total >= 1, bar
            assert bar.done == bar.total, bar


def test_build_and_report_fill_a_bar_per_stage(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    seen = Recorder()
    build(families, index_path=index, backbone="fake", weights="w", progress=seen)
    assert [b.label for b in seen.bars] == [
        "extracting",
        "PCA",
        "projecting",
        "saving index (MB)",
    ]
    assert seen.totals() == {"extracting": 12, "PCA": 1, "projecting": 12, "saving index (MB)": 1}
    seen.assert_filled()

    seen = Recorder()
    report(index, out=tmp_path / "r.html", progress=seen)
    assert [b.label for b in seen.bars] == [
        "neighbours",
        "clusters",
        "map (UMAP)",
        "thumbnails",
        "report page",
    ]
    totals = seen.totals()
    assert totals["neighbours"] == 12 and totals["thumbnails"] == 12
    assert totals["clusters"] == 3  # k = 2 and 3 on the sample (k <= sqrt(12)), then the fit
    assert totals["map (UMAP)"] == 500  # umap-learn's epochs up to 10,000 images
    assert len(seen.bars[2].advances) > 1  # the epochs come one by one, not all at the end
    seen.assert_filled()

    seen = Recorder()
    report(index, out=tmp_path / "r.html", progress=seen)
    assert [b.label for b in seen.bars] == ["thumbnails", "report page"]  # analysis reused
    seen.assert_filled()


def test_add_projects_and_saves_without_refitting(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    build(families, index_path=index, backbone="fake", weights="w")
    new = make_family_image(tmp_path / "new.png", FAMILIES["red"], seed=77)
    seen = Recorder()
    add([new], index_path=index, progress=seen)
    assert seen.totals() == {"extracting": 1, "projecting": 13, "saving index (MB)": 1}
    seen.assert_filled()


def test_saving_counts_megabytes_as_it_writes(tmp_path: Path) -> None:
    n, d = 300, 4096  # 2.5 MB of float16 features
    feats = np.random.default_rng(0).random((n, d), dtype=np.float32).astype(np.float16)
    proj = fit_projection(feats[:20], n_components=4)
    data = IndexData(
        root="/photos",
        backbone=BackboneInfo("fake", "pool", d, "w", "sha"),
        records=[ImageRecord(f"{i}.jpg", 1, 1, f"{i:064x}", 4, 3) for i in range(n)],
        skipped=[],
        features=feats,
        vectors=project(feats, proj),
        projection=proj,
        thumbnails=[WEBP] * n,
    )
    seen = Recorder()
    save_index(tmp_path, data, progress=seen)
    (bar,) = seen.bars
    on_disk = sum(f.stat().st_size for f in tmp_path.iterdir() if f.name != "manifest.json")
    assert bar.label == "saving index (MB)" and bar.total == -(-on_disk // MB) >= 3
    assert bar.done == bar.total and len(bar.advances) >= 2
    assert Index(tmp_path).verify() == []  # hashed while written: the checksums still hold


def test_sidecar_and_projection_advance_in_blocks(tmp_path: Path) -> None:
    done: list[int] = []
    urls = write_sidecar([WEBP] * 600, tmp_path / "r_files", progress=done.append)
    assert len(urls) == 600 and done == [256, 256, 88]
    done.clear()
    x = np.random.default_rng(1).random((9000, 8), dtype=np.float32)
    project(x, fit_projection(x[:100], n_components=2), progress=done.append)
    assert sum(done) == 9000 and len(done) == 3


def test_analysis_bars_for_fixed_k_tiny_maps_and_the_approximate_graph(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = normalize(np.random.default_rng(2).normal(size=(4, 6)).astype(np.float32))
    seen = Recorder()
    cluster(x, n_clusters=2, progress=seen)
    nbrs, scores = exact_neighbor_graph(x, k=3)
    embed_2d(x, neighbors=nbrs, scores=scores, progress=seen)
    assert seen.totals() == {"clusters": 1, "map (UMAP)": 1}  # 4 images: a circle, no UMAP
    seen.assert_filled()

    import explorer.analysis.stored as stored

    index = tmp_path / "idx"
    build(families, index_path=index, backbone="fake", weights="w")
    monkeypatch.setattr(stored, "EXACT_GRAPH_LIMIT", 5)
    graphs: list[int] = []

    def graph(vectors: np.ndarray, *, k: int, seed: int = 0, progress: object = None) -> object:
        assert progress is None  # NN-descent cannot report rows: its bar is one step
        graphs.append(len(vectors))
        return exact_neighbor_graph(vectors, k=k)

    monkeypatch.setattr(stored, "neighbor_graph", graph)
    seen = Recorder()
    analyse(Index(index), AnalysisParams(clusters=3), progress=seen)
    assert graphs == [12]
    assert seen.bars[0].label == "neighbours (NN-descent)" and seen.bars[0].total == 1
    seen.assert_filled()
