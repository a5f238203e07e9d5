"""build / add / similar on small folders, with a fake backbone (no TensorFlow)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorer.errors import IncompatibleIndexError, NoImagesError, UsageError
from explorer.jobs.build import BuildSummary, add, build
from explorer.jobs.similar import similar
from explorer.store.checkpoints import read_chunks
from explorer.store.index import Index
from tests.helpers import FAMILIES, Loads, make_family_image


def _build(root: Path, index: Path, **kw: Any) -> BuildSummary:
    return build(root, index_path=index, backbone="fake", weights="w1", **kw)


def test_build_indexes_every_image_and_finds_families(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    summary = _build(families, index)
    assert summary.images == summary.indexed == 12
    idx = Index(index)
    assert [r.path for r in idx.records] == sorted(r.path for r in idx.records)
    assert "sub/blue-3.png" in {r.path for r in idx.records}
    assert idx.features.dtype == np.float16 and idx.features.shape == (12, 192)
    assert np.allclose(np.linalg.norm(idx.vectors, axis=1), 1, atol=1e-4)
    assert idx.projection().n_components == 12  # fewer images than 300 components
    assert idx.backbone.name == "fake" and idx.backbone.weights_sha256 == "sha-w1"
    assert idx.classes() is not None
    # every image's 3 nearest neighbours are its own family
    for result in similar([families], index_path=index, k=3):
        family = result.query.name.split("-")[0]
        assert result.indexed
        assert all(m.path.name.startswith(family) for m in result.matches), result
        assert all(m.path != result.query for m in result.matches)
        assert all(-1 <= m.score <= 1 for m in result.matches)


def test_rebuild_unchanged_loads_no_model(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    _build(families, index)
    builds = fake_backbone.builds
    generation = Index(index).manifest["generation"]
    summary = _build(families, index)
    assert fake_backbone.builds == builds
    assert Index(index).manifest["generation"] == generation  # nothing rewritten
    assert summary.unchanged == 12 and summary.indexed == 0
    assert summary.model_loaded is False


def test_rebuild_detects_new_changed_touched_and_deleted(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    _build(families, index)
    before = Index(index)
    names = [r.path for r in before.records]
    red0 = np.asarray(before.features[names.index("red-0.png")]).copy()
    red1 = np.asarray(before.features[names.index("red-1.png")]).copy()
    make_family_image(families / "green-new.png", FAMILIES["green"], seed=99)
    make_family_image(families / "red-1.png", FAMILIES["blue"], seed=5)  # content changed
    os.utime(families / "red-0.png", ns=(1, 1))  # touched, same bytes
    (families / "blue-0.png").unlink()
    fake_backbone.images = 0
    summary = _build(families, index)
    assert (summary.indexed, summary.updated, summary.removed) == (1, 1, 1)
    assert summary.unchanged == 10
    assert fake_backbone.images == 2  # only the new and the changed file were extracted
    idx = Index(index)
    paths = [r.path for r in idx.records]
    assert "blue-0.png" not in paths and "green-new.png" in paths
    assert idx.records[paths.index("red-0.png")].mtime_ns == 1
    # the touched file keeps its own row's features; the changed one has new ones
    assert np.array_equal(np.asarray(idx.features[paths.index("red-0.png")]), red0)
    assert not np.allclose(np.asarray(idx.features[paths.index("red-1.png")]), red1, atol=0.05)


def test_rebuild_rewrites_the_index_only_when_the_result_would_differ(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    (families / "broken.jpg").write_bytes(b"not an image")  # retried, and skipped, every build
    _build(families, index)

    def generation() -> str:
        return str(Index(index).manifest["generation"])

    first = generation()
    assert _build(families, index).skipped == {"not_an_image": 1}
    assert generation() == first  # same rows, same skips, same PCA: nothing rewritten
    _build(families, index, seed=1)
    assert generation() != first and Index(index).manifest["meta"]["seed"] == 1
    second = generation()
    assert _build(families, index, seed=1, n_components=4).pca_components == 4
    assert generation() != second
    third = generation()
    (families / "broken.jpg").unlink()  # one skip fewer, every row the same
    _build(families, index, seed=1, n_components=4)
    assert generation() != third and Index(index).skipped == []


def test_interrupted_build_resumes_from_checkpoints(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    fake_backbone.fail_after = 8
    with pytest.raises(KeyboardInterrupt):
        _build(families, index, checkpoint_every=4)
    assert not (index / "manifest.json").exists()
    assert sum(len(c.records) for c in read_chunks(index)) == 8
    fake_backbone.fail_after = None
    fake_backbone.images = 0
    summary = _build(families, index, checkpoint_every=4)
    assert summary.resumed == 8 and summary.indexed == 4
    assert fake_backbone.images == 4
    assert read_chunks(index) == []
    # same result as an uninterrupted build
    fresh = tmp_path / "fresh"
    _build(families, fresh)
    a, b = Index(index), Index(fresh)
    assert [r.path for r in a.records] == [r.path for r in b.records]
    assert np.array_equal(np.asarray(a.features), np.asarray(b.features))
    assert np.allclose(
        np.abs(a.projection().components), np.abs(b.projection().components), atol=1e-4
    )


def test_add_projects_with_stored_pca(families: Path, tmp_path: Path, fake_backbone: Loads) -> None:
    index = tmp_path / "idx"
    _build(families, index)
    pca_before = Index(index).projection()
    extra = tmp_path / "extra"
    extra.mkdir()
    new = make_family_image(extra / "red-extra.png", FAMILIES["red"], seed=77)
    summary = add([extra], index_path=index)
    assert summary.indexed == 1 and summary.images == 13
    idx = Index(index)
    assert np.array_equal(idx.projection().components, pca_before.components)
    (result,) = similar([new], index_path=index, k=3)
    assert result.indexed  # searchable at once, found by its own path
    assert all(m.path.name.startswith("red") for m in result.matches)
    # re-adding is a no-op; a later build keeps files added from outside the folder
    assert add([new], index_path=index).indexed == 0
    assert _build(families, index).images == 13


def test_similar_new_image_and_byte_identical_copy(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    _build(families, index)
    shutil.copy(families / "green-2.png", families / "green-2-copy.png")
    _build(families, index)
    (res,) = similar([families / "green-2.png"], index_path=index, k=2)
    assert res.matches[0].path.name == "green-2-copy.png"
    assert res.matches[0].score == pytest.approx(1.0, abs=1e-3)
    query = make_family_image(tmp_path / "query.png", FAMILIES["blue"], seed=123)
    builds = fake_backbone.builds
    (res,) = similar([query], index_path=index, k=4)
    assert not res.indexed and fake_backbone.builds == builds + 1
    assert all(m.path.name.startswith("blue") for m in res.matches)
    # an outside copy of an indexed file reuses its vector, without the model
    outside = tmp_path / "outside.png"
    shutil.copy(families / "red-2.png", outside)
    (res,) = similar([outside], index_path=index, k=1)
    assert res.matches[0].path.name == "red-2.png" and fake_backbone.builds == builds + 1
    # an indexed file touched since the build is still itself: never its own match
    os.utime(families / "red-2.png", ns=(5, 5))
    (res,) = similar([families / "red-2.png"], index_path=index, k=3)
    assert res.indexed and fake_backbone.builds == builds + 1
    assert "red-2.png" not in [m.path.name for m in res.matches]


def test_several_new_queries_load_the_model_once(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    _build(families, index)
    queries = tmp_path / "queries"
    queries.mkdir()
    for i, (name, colour) in enumerate(FAMILIES.items()):
        make_family_image(queries / f"{name}-q.png", colour, seed=500 + i)
    (queries / "broken.jpg").write_bytes(b"not an image")
    builds = fake_backbone.builds
    results = similar([queries, families / "red-0.png"], index_path=index, k=3)
    assert fake_backbone.builds == builds + 1
    by_name = {r.query.name: r for r in results}
    assert by_name["broken.jpg"].skipped == "not_an_image" and not by_name["broken.jpg"].matches
    assert by_name["red-0.png"].indexed
    for name in FAMILIES:
        res = by_name[f"{name}-q.png"]
        assert not res.indexed and len(res.matches) == 3
        assert all(m.path.name.startswith(name) for m in res.matches)


def test_refuses_other_weights_other_folder_and_empty(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    _build(families, index)
    with pytest.raises(IncompatibleIndexError, match="weights"):
        build(families, index_path=index, backbone="fake", weights="w2")
    with pytest.raises(IncompatibleIndexError):
        similar([families / "red-0.png"], index_path=index, weights="w2")
    with pytest.raises(IncompatibleIndexError, match="pixels"):
        build(families, index_path=index, backbone="pixels")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(UsageError, match="--fresh"):
        _build(other, index)
    (other / "notes.txt").write_text("hello")
    (other / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(NoImagesError, match="not_an_image"):
        _build(other, tmp_path / "idx2")
    assert not (tmp_path / "idx2" / "manifest.json").exists()
    # --fresh replaces the index
    assert _build(families, index, fresh=True).indexed == 12


def test_resume_works_for_backbones_with_their_own_weights(
    families: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.features.pixels import PixelsBackbone

    index = tmp_path / "idx"
    original = PixelsBackbone.embed
    calls = {"n": 0}

    def interrupted(self: PixelsBackbone, pixels: np.ndarray) -> object:
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return original(self, pixels)

    monkeypatch.setattr(PixelsBackbone, "batch_size", 4)
    monkeypatch.setattr(PixelsBackbone, "embed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(families, index_path=index, backbone="pixels", checkpoint_every=4)
    monkeypatch.setattr(PixelsBackbone, "embed", original)
    summary = build(families, index_path=index, backbone="pixels")
    assert summary.resumed == 8 and summary.indexed == 4
