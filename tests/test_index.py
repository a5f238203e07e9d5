"""The on-disk index: round trip, atomic commits, the lock, damage and pickle."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import numpy as np
import pytest

from explorer import fs
from explorer.analysis.pca import fit_projection, project
from explorer.errors import IndexCorruptError, IndexLockedError, IndexMissingError
from explorer.features.base import BackboneInfo
from explorer.store import commit
from explorer.store.commit import save_index
from explorer.store.folder import lock_index
from explorer.store.index import Index
from explorer.store.manifest import seal_manifest
from explorer.store.records import ImageRecord, IndexData, SkipRecord
from tests.helpers import lock_held_elsewhere

PACKAGE = Path(__file__).resolve().parents[1] / "explorer"


def _data(n: int = 6, name: str = "a") -> IndexData:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(n, 16)).astype(np.float16)
    proj = fit_projection(feats, n_components=4)
    return IndexData(
        root="/photos",
        backbone=BackboneInfo("fake", "pool", 16, "w", "sha"),
        records=[ImageRecord(f"{name}{i}.jpg", 10 + i, i, f"{i:064x}", 4, 3) for i in range(n)],
        skipped=[SkipRecord("bad\udce9.jpg", "truncated", "image file is truncated")],
        features=feats,
        vectors=project(feats, proj),
        projection=proj,
        thumbnails=[bytes([i]) * (i + 1) for i in range(n)],
        class_ids=np.zeros((n, 5), dtype=np.int16),
        class_probs=np.zeros((n, 5), dtype=np.float16),
    )


def _no_temp_files(path: Path) -> bool:
    return not [p for p in path.iterdir() if ".tmp-" in p.name]


def test_index_opens_from_a_str_or_pathlike(tmp_path: Path) -> None:
    save_index(tmp_path, _data())
    for given in (str(tmp_path), tmp_path):
        idx = Index(given)
        assert idx.path == tmp_path and len(idx) == 6 and idx.verify() == []


def test_round_trip(tmp_path: Path) -> None:
    data = _data()
    save_index(tmp_path, data)
    idx = Index(tmp_path)
    assert idx.records == data.records
    assert idx.skipped == data.skipped  # non-UTF-8 name survives exactly
    assert np.array_equal(np.asarray(idx.features), data.features)
    assert isinstance(idx.features, np.memmap)
    assert idx.thumbnails() == data.thumbnails
    assert np.array_equal(idx.projection().components, data.projection.components)
    assert idx.verify() == []
    assert idx.backbone == data.backbone


def test_new_generation_replaces_old_and_readers_keep_working(tmp_path: Path) -> None:
    save_index(tmp_path, _data(name="a"))
    reader = Index(tmp_path)
    save_index(tmp_path, _data(n=4, name="b"))
    assert reader.thumbnails()[0] == b"\x00"  # old generation still readable through its handles
    assert [r.path for r in Index(tmp_path).records] == ["b0.jpg", "b1.jpg", "b2.jpg", "b3.jpg"]
    files = {p.name.split("-")[0] for p in tmp_path.iterdir()}
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("features-")]) == 1
    assert "manifest.json" in files and _no_temp_files(tmp_path)


def test_disk_full_keeps_previous_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_index(tmp_path, _data(name="a"))
    real = commit.atomic_write
    calls = {"n": 0}

    def failing(path: Path, write: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, write)  # type: ignore[arg-type]

    monkeypatch.setattr(commit, "atomic_write", failing)
    with pytest.raises(OSError) as info:
        save_index(tmp_path, _data(name="b"))
    assert info.value.errno == errno.ENOSPC
    monkeypatch.setattr(commit, "atomic_write", real)
    idx = Index(tmp_path)
    assert idx.records[0].path == "a0.jpg" and idx.verify() == []
    assert _no_temp_files(tmp_path)


def test_atomic_write_removes_temp_on_error(tmp_path: Path) -> None:
    def boom(fh: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        fs.atomic_write(tmp_path / "x.bin", boom)
    assert list(tmp_path.iterdir()) == []


def test_second_writer_fails_fast_naming_holder(tmp_path: Path) -> None:
    with (
        lock_held_elsewhere(tmp_path, command="explorer build cats") as proc,
        pytest.raises(IndexLockedError, match=rf"pid {proc.pid} \(explorer build cats"),
        lock_index(tmp_path, command="explorer add"),
    ):
        pass
    # a holder that died releases the lock: the next writer gets it
    with lock_held_elsewhere(tmp_path, command="explorer build cats") as proc:
        proc.kill()
        proc.join(10)
    with lock_index(tmp_path, command="explorer add"):
        pass


@pytest.mark.parametrize(
    "victim",
    ["images", "features", "vectors", "pca", "classes", "thumbs", "thumb_offsets", "manifest"],
)
def test_damaged_files_give_clear_errors(tmp_path: Path, victim: str) -> None:
    save_index(tmp_path, _data())
    name = (
        "manifest.json"
        if victim == "manifest"
        else next(p.name for p in tmp_path.iterdir() if p.name.startswith(victim + "-"))
    )
    target = tmp_path / name
    raw = target.read_bytes()
    target.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(IndexCorruptError, match=re.escape(name)) as info:
        idx = Index(tmp_path)
        idx.projection()
    assert "explorer build" in str(info.value)


def test_flipped_bytes_found_by_verify(tmp_path: Path) -> None:
    save_index(tmp_path, _data())
    target = next(p for p in tmp_path.iterdir() if p.name.startswith("thumbs-"))
    raw = bytearray(target.read_bytes())
    raw[0] ^= 0xFF
    target.write_bytes(bytes(raw))
    assert any("checksum" in p for p in Index(tmp_path).verify())


def test_future_schema_and_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="explorer build"):
        Index(tmp_path)
    save_index(tmp_path, _data())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["schema"] = 99
    (tmp_path / "manifest.json").write_bytes(seal_manifest(manifest))
    with pytest.raises(IndexCorruptError, match="schema version 99") as info:
        Index(tmp_path)
    assert str(tmp_path / "manifest.json") in str(info.value)
    assert f"explorer build FOLDER --fresh --index {tmp_path}" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"), [("root", "/elsewhere"), ("count", 7), ("generation", "x")]
)
def test_edited_manifest_that_is_still_valid_json_is_refused(
    tmp_path: Path, field: str, value: object
) -> None:
    save_index(tmp_path, _data())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest[field] = value
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match=r"manifest\.json is damaged: checksum mismatch"):
        Index(tmp_path)


def test_schema_1_index_without_a_manifest_checksum_still_opens(tmp_path: Path) -> None:
    """Indexes written before manifests were sealed are read, not sent to a rebuild.

    verify says the manifest is not sealed: "schema 1, no checksum" is also what a
    hand edit that drops the seal looks like, so verify never calls it ok.
    """
    save_index(tmp_path, _data())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["checksum"]
    manifest["schema"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    idx = Index(tmp_path)
    assert len(idx) == 6
    problems = idx.verify()
    assert len(problems) == 1 and "not sealed" in problems[0]
    manifest["schema"] = 2  # a current index must carry its checksum
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="no checksum"):
        Index(tmp_path)


def test_verify_finds_nan_and_wrong_shapes(tmp_path: Path) -> None:
    data = _data()
    data.features = data.features.copy()
    data.features[2, 3] = np.nan
    save_index(tmp_path, data)
    problems = Index(tmp_path).verify()
    assert any(p.startswith("features-") and "NaN" in p for p in problems), problems
    other = tmp_path / "other"
    data = _data()
    data.class_probs = np.zeros((len(data.records) - 1, 5), dtype=np.float16)
    data.class_ids = np.zeros((len(data.records) - 1, 5), dtype=np.int16)
    save_index(other, data)
    problems = Index(other).verify()
    assert any(p.startswith("classes-") and "shape" in p for p in problems), problems


def test_pickle_payload_is_rejected_without_running(tmp_path: Path) -> None:
    save_index(tmp_path, _data())
    target = next(p for p in tmp_path.iterdir() if p.name.startswith("vectors-"))
    marker = tmp_path / "pwned"
    arr = np.array([_Payload(str(marker))], dtype=object)
    with open(target, "wb") as fh:
        np.save(fh, arr, allow_pickle=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"]["vectors"]["bytes"] = target.stat().st_size
    (tmp_path / "manifest.json").write_bytes(seal_manifest(manifest))
    with pytest.raises(IndexCorruptError, match="vectors-"):
        Index(tmp_path)
    # even with its checksum forged too, the array is refused, not unpickled
    manifest["files"]["vectors"]["sha256"] = fs.sha256_hex(target.read_bytes())
    (tmp_path / "manifest.json").write_bytes(seal_manifest(manifest))
    with pytest.raises(IndexCorruptError, match="not a valid array"):
        Index(tmp_path)
    assert not marker.exists()


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (self.path, "w"))


def test_no_pickle_in_package() -> None:
    pattern = re.compile(r"import pickle|pickle\.load|allow_pickle\s*=\s*True|import joblib")
    hits = [
        f"{p.name}:{n}"
        for p in PACKAGE.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


@pytest.mark.parametrize(
    "victim", ["vectors", "images", "pca", "thumbs", "thumb_offsets", "features", "classes"]
)
def test_flipped_bytes_are_never_read_as_data(tmp_path: Path, victim: str) -> None:
    """Same size, different bytes: refused when the file is read, not answered from."""
    save_index(tmp_path, _data())
    target = next(p for p in tmp_path.iterdir() if p.name.startswith(victim + "-"))
    raw = bytearray(target.read_bytes())
    raw[-3] ^= 0x01  # inside the data, past any header
    target.write_bytes(bytes(raw))
    with pytest.raises(IndexCorruptError, match="checksum mismatch"):
        idx = Index(tmp_path)
        {
            "pca": idx.projection,
            "thumbs": idx.thumbnails,
            "thumb_offsets": idx.thumbnails,
            "features": idx.verify_features,  # before build or add copies them
            "classes": idx.classes,
        }.get(victim, lambda: None)()
