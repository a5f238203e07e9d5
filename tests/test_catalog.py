"""Near-duplicates, cluster names, tags and the export, on a folder built at test time.

The folder holds four colour families of distinct images, and three known
duplicate groups: a resized and a re-compressed copy of one image, an EXIF-
rotated copy of another (pixels stored rotated, orientation tag 6, so it looks
the same as the original) and a byte-identical copy of a third.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from explorer.analysis.clustering import cluster_names, imagenet_names
from explorer.cli import app
from explorer.errors import UsageError
from explorer.features import registry as backbones
from explorer.features.base import BackboneInfo, BackboneSpec, Embedding
from explorer.jobs.build import add, build
from explorer.jobs.catalog import clusters, duplicates, export_rows, tag
from explorer.store.index import Index
from explorer.store.tags import load_tags
from tests.helpers import grid_image, make_catalog_photos

# chosen ImageNet classes per family: (class id, probability)
CLASSES = {
    "red": [(281, 0.5), (282, 0.3), (285, 0.15)],  # tabby / tiger cat / Egyptian cat
    "green": [(985, 0.9)],  # daisy
    "blue": [(967, 0.7), (968, 0.25)],  # espresso / cup
    "yellow": [(954, 0.95)],  # banana
}
EXPECTED_GROUPS = [
    {"red-0.jpg", "red-0-small.jpg", "red-0-q40.jpg"},
    {"blue-1.jpg", "blue-1-exif6.jpg"},
    {"green-2.jpg", "green-2-copy.jpg"},
]
runner = CliRunner()


class ClassBackbone:
    """Fake backbone: 8x8 colour grid features, class probabilities chosen by dominant colour."""

    batch_size = 8

    def __init__(self) -> None:
        self.info = BackboneInfo("classfake", "grid", 192, "w", "sha-w")

    def embed(self, pixels: NDArray[np.uint8]) -> Embedding:
        n = len(pixels)
        x = pixels.astype(np.float32).reshape(n, 8, 28, 8, 28, 3).mean(axis=(2, 4)) / 255.0
        probs = np.full((n, 1000), 1e-5, dtype=np.float32)
        for row, mean in enumerate(x.reshape(n, -1, 3).mean(axis=1)):
            r, g, _ = mean
            family = (
                "yellow" if r > 0.6 and g > 0.6 else ["red", "green", "blue"][int(np.argmax(mean))]
            )
            for cls, p in CLASSES[family]:
                probs[row, cls] = p
        return Embedding(x.reshape(n, -1), probs / probs.sum(axis=1, keepdims=True))


def _build(photos: Path, index: Path) -> None:
    spec = BackboneSpec("classfake", "grid", 192, "test", False, lambda ref, seed: ClassBackbone())
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(backbones.BACKBONES, "classfake", spec)
        build(photos, index_path=index, backbone="classfake")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One folder and index (with its analysis) shared by the read-only tests."""
    base = tmp_path_factory.mktemp("catalog")
    photos, index = make_catalog_photos(base / "photos"), base / "idx"
    _build(photos, index)
    clusters(index)  # compute and store the analysis once
    return photos, index


@pytest.fixture
def photos(shared: tuple[Path, Path]) -> Path:
    return shared[0]


@pytest.fixture
def index(shared: tuple[Path, Path]) -> Path:
    return shared[1]


def _names(idx: Index, rows: list[int]) -> set[str]:
    return {idx.records[i].path for i in rows}


def test_duplicate_groups_come_out_exactly(index: Path) -> None:
    _, sets, threshold = duplicates(index, threshold=0.95)
    assert threshold == 0.95
    found = [{Path(m.path).name for m in s.members} for s in sets]
    assert sorted(found, key=sorted) == sorted(EXPECTED_GROUPS, key=sorted)
    keepers = {Path(s.members[0].path).name for s in sets}
    assert keepers == {"red-0.jpg", "blue-1.jpg", "green-2.jpg"}  # largest, then oldest
    for s in sets:
        assert [m.keep for m in s.members] == [True] + [False] * (len(s.members) - 1)
        exact = {Path(m.path).name for m in s.members if m.exact}
        assert exact == ({"green-2.jpg", "green-2-copy.jpg"} if "green-2.jpg" in exact else set())
        assert all(0.95 <= m.score <= 1.0 for m in s.members)


def test_exact_copies_are_grouped_whatever_the_threshold(index: Path) -> None:
    _, sets, _ = duplicates(index, threshold=1.0)
    names = [{Path(m.path).name for m in s.members} for s in sets]
    assert {"green-2.jpg", "green-2-copy.jpg"} in names


def test_clusters_are_the_families_and_named_by_their_classes(index: Path) -> None:
    idx, summaries, labels = clusters(index)
    assert len(summaries) == 4 and sum(c.size for c in summaries) == len(idx)
    by_family: dict[str, set[int]] = {}
    for r, c in zip(idx.records, labels, strict=True):
        by_family.setdefault(r.path.split("-")[0], set()).add(c)
    assert all(len(v) == 1 for v in by_family.values())
    names = {fam: summaries[next(iter(c))].name for fam, c in by_family.items()}
    assert names == {
        "red": "tabby / tiger cat / Egyptian cat",
        "green": "daisy",
        "blue": "espresso / cup",
        "yellow": "banana",
    }
    for c in summaries:
        assert 0 < c.cohesion <= 1
        assert set(c.representatives) <= {i for i, lab in enumerate(labels) if lab == c.cluster}


def test_cluster_names_without_classes_and_class_table() -> None:
    labels = np.array([0, 0, 1])
    assert cluster_names(labels, None, None, k=2) == ["cluster 0", "cluster 1"]
    names = imagenet_names()
    assert len(names) == 1000 and names[281] == "tabby" and names[967] == "espresso"


def test_tags_survive_rebuilds_and_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = BackboneSpec("classfake", "grid", 192, "test", False, lambda ref, seed: ClassBackbone())
    monkeypatch.setitem(backbones.BACKBONES, "classfake", spec)
    photos, index = make_catalog_photos(tmp_path / "photos"), tmp_path / "idx"
    _build(photos, index)
    idx, summaries, labels = clusters(index)
    red = labels[[r.path for r in idx.records].index("red-1.jpg")]
    assert tag(index, "cats", cluster=red) == summaries[red].size
    assert tag(index, "indoor", files=[photos / "blue-0.jpg", photos / "green-0.jpg"]) == 2
    assert tag(index, "indoor", files=[photos / "blue-0.jpg"], remove=True) == 1
    with pytest.raises(UsageError, match="not in the index"):
        tag(index, "x", files=[tmp_path / "nope.jpg"])
    with pytest.raises(UsageError, match="cluster"):
        tag(index, "x", cluster=99)
    before = load_tags(index)
    assert before["green-0.jpg"] == ["indoor"] and "blue-0.jpg" not in before
    grid_image((200, 200, 200), seed=9).save(photos / "grey-new.jpg")
    _build(photos, index)
    extra = tmp_path / "extra.jpg"
    grid_image((200, 200, 200), seed=10).save(extra)
    add([extra], index_path=index)
    assert load_tags(index) == before
    rows = {r["path"]: r for r in export_rows(index)}
    assert rows[str(photos / "green-0.jpg")]["tags"] == ["indoor"]


def test_cli_outputs_parse_and_match_the_index(index: Path, photos: Path) -> None:
    idx = Index(index)
    paths = {str(photos / r.path) for r in idx.records}
    args = ["--index", str(index)]
    out = runner.invoke(app, ["duplicates", "--threshold", "0.95", "--json", *args])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    groups = [{Path(m["path"]).name for m in g["members"]} for g in data["groups"]]
    assert sorted(groups, key=sorted) == sorted(EXPECTED_GROUPS, key=sorted)
    out = runner.invoke(app, ["duplicates", "--threshold", "0.95", "--csv", *args])
    plan = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {r["path"] for r in plan} <= paths and len(plan) == 7
    assert sorted(Path(r["path"]).name for r in plan if r["action"] == "keep") == [
        "blue-1.jpg",
        "green-2.jpg",
        "red-0.jpg",
    ]
    plan_file = index.parent / "plan.csv"
    to_file = ["duplicates", "--threshold", "0.95", "--out", str(plan_file)]
    wrote = runner.invoke(app, [*to_file, *args])
    assert wrote.exit_code == 0, wrote.output
    assert plan_file.read_text() == out.stdout
    out = runner.invoke(app, ["duplicates", "--histogram", "--json", *args])
    hist = json.loads(out.stdout)
    counts = [c for _, c in hist["counts"]]
    assert counts == sorted(counts, reverse=True)
    assert dict((round(t, 2), c) for t, c in hist["counts"])[0.94] == 5  # 3 + 1 + 1 pairs
    curve = [s for _, s, _ in hist["curve"]]
    assert curve == sorted(curve, reverse=True) and hist["curve"][0][0] == 1
    out = runner.invoke(app, ["duplicates", "--histogram", *args])
    assert "rank  cosine  pixel check" in out.stdout and "passes" in out.stdout
    out = runner.invoke(app, ["clusters", "--json", *args])
    table = json.loads(out.stdout)
    assert sum(c["size"] for c in table) == len(idx)
    assert {c["name"] for c in table} >= {"daisy", "banana"}
    out = runner.invoke(app, ["clusters", "--members", "--csv", *args])
    members = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {m["path"] for m in members} == paths
    out = runner.invoke(app, ["tag", str(photos / "red-1.jpg"), "<b>odd</b>", *args])
    assert out.exit_code == 0 and "added to 1 image" in out.stdout, out.output
    red = next(m["cluster"] for m in members if Path(m["path"]).name == "red-1.jpg")
    size = sum(m["cluster"] == red for m in members)
    out = runner.invoke(app, ["tag", "--cluster", red, "reds", *args])
    assert out.exit_code == 0 and f"added to {size} images" in out.stdout, out.output
    out = runner.invoke(app, ["untag", "--cluster", red, "reds", *args])
    assert out.exit_code == 0 and f"removed from {size} images" in out.stdout, out.output
    out = runner.invoke(app, ["tag", "--cluster", "99", "x", *args])
    assert out.exit_code == 2 and "cluster" in out.stderr and "Traceback" not in out.output
    out = runner.invoke(app, ["export", "--csv", *args])
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {r["path"] for r in rows} == paths and len(rows) == len(idx)
    by_path = {Path(r["path"]).name: r for r in rows}
    assert by_path["red-1.jpg"]["tags"] == "<b>odd</b>"
    assert by_path["red-0-small.jpg"]["duplicate_group"] == by_path["red-0.jpg"]["duplicate_group"]
    assert by_path["red-0.jpg"]["keep"] == "1" and by_path["red-0-small.jpg"]["keep"] == "0"
    assert by_path["red-0.jpg"]["cluster_name"] == "tabby / tiger cat / Egyptian cat"


def test_histogram_counts_each_pair_once_and_exact_copies_at_one() -> None:
    from explorer.analysis.calibration import histogram, pairs_near

    unit = np.float32(1.0) - np.float32(6e-8)  # an image and its copy, in float32
    neighbors = np.array([[1, 2], [0, 2], [0, 1]], dtype=np.int32)
    scores = np.array([[unit, 0.6], [unit, 0.7], [0.6, 0.7]], dtype=np.float32)
    counts = dict(histogram(neighbors, scores, thresholds=(0.5, 0.65, 0.9, 1.0)))
    assert counts == {0.5: 3, 0.65: 2, 0.9: 1, 1.0: 1}  # (0,1) listed twice, counted once
    above, below = pairs_near(neighbors, scores, threshold=0.65, count=1)
    assert [(i, j) for i, j, _ in above] == [(1, 2)] and [(i, j) for i, j, _ in below] == [(0, 2)]
