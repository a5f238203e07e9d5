"""Nothing outside the index is ever touched (issue 13).

Each test plants a decoy (a file or folder outside the index, or a file that is
not the index's) and checks that it is byte-identical afterwards, or that a
crafted index file is refused with one line naming it. They run as root, as CI
does: none relies on a permission being refused.
"""

from __future__ import annotations

import errno
import io
import json
import multiprocessing
import os
import stat
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from explorer import fs
from explorer.analysis.knn import neighbor_graph, numba_cache
from explorer.cli import app
from explorer.errors import IndexCorruptError, UnsafeIndexError
from explorer.features.base import BackboneInfo
from explorer.features.extract import result_within
from explorer.inputs.decode import load_image
from explorer.inputs.skips import Skipped, SkipReason
from explorer.jobs.catalog import rows_csv
from explorer.store import commit
from explorer.store.arrays import npz_bytes
from explorer.store.checkpoints import read_chunks
from explorer.store.commit import save_analysis, save_index
from explorer.store.folder import MARKER, lock_index, write_output_bytes
from explorer.store.index import Index
from explorer.store.manifest import from_json, seal_manifest
from explorer.store.quarantine import load as load_quarantine
from explorer.store.records import Analysis, IndexData
from explorer.store.tags import change_tags, load_tags
from explorer.text import display_path
from tests.helpers import (
    FAMILIES,
    family_images,
    fill_disk_at_manifest,
    lock_held_elsewhere,
    make_family_image,
)

runner = CliRunner()


def _photos(root: Path, n: int = 6) -> Path:
    return family_images(root, n)


def _build(photos: Path, index: Path, *extra: str) -> object:
    args = ["build", str(photos), "--index", str(index), "--backbone", "pixels", "--no-report"]
    return runner.invoke(app, [*args, "--quiet", *extra])


def _snapshot(path: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under ``path`` (not following links): its kind and its bytes."""
    found: dict[str, tuple[str, bytes]] = {}
    for entry in [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]:
        st = os.lstat(entry)
        key = str(entry.relative_to(path)) if entry != path else "."
        if stat.S_ISLNK(st.st_mode):
            found[key] = ("link", os.readlink(entry).encode())
        elif stat.S_ISREG(st.st_mode):
            found[key] = (oct(stat.S_IMODE(st.st_mode)), entry.read_bytes())
        else:
            found[key] = (stat.filemode(st.st_mode)[0], b"")
    return found


def _decoy(tmp_path: Path) -> Path:
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "my-notes.txt").write_text("notes that are not explorer's\n")
    (decoy / "tax-return-2024.pdf").write_bytes(b"%PDF-1.4 precious\n")
    (decoy / "chunk-00000000000000000001.npz").write_bytes(b"looks like ours, is not")
    return decoy


def _fake_analysis(index: Path) -> None:
    """Store a small, consistent analysis, so catalogue commands need no UMAP."""
    idx = Index(index)
    n = len(idx)
    vectors = np.asarray(idx.vectors, dtype=np.float32)
    neighbors, scores = neighbor_graph(vectors, k=min(3, n - 1))
    info = {"k": 1, "method": "fixed", "generation": idx.manifest["generation"], "seed": 0}
    info |= {"clusters_requested": None, "dup_threshold": 0.75, "silhouette": None}
    analysis = Analysis(
        np.zeros(n, np.int32),
        vectors.mean(axis=0, keepdims=True),
        np.zeros((n, 2), np.float32),
        neighbors.astype(np.int32),
        scores.astype(np.float32),
        info,
    )
    idx.close()
    with lock_index(index, command="test"):
        assert save_analysis(index, analysis) is not False


def _reseal(index: Path, edit: object) -> None:
    """Apply ``edit(manifest)`` and seal the manifest again, as a careful forger would."""
    manifest = json.loads((index / "manifest.json").read_text())
    edit(manifest)  # type: ignore[operator]
    (index / "manifest.json").write_bytes(seal_manifest(manifest))


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    photos = _photos(tmp_path / "photos")
    index = tmp_path / "idx"
    assert _build(photos, index).exit_code == 0
    return photos, index


# ---------------------------------------------------------------- 1. foreign folders


def test_index_pointing_at_an_ordinary_folder_is_refused_and_nothing_is_deleted(
    tmp_path: Path,
) -> None:
    photos = _photos(tmp_path / "photos")
    documents = _decoy(tmp_path)
    before = _snapshot(documents)
    result = _build(photos, documents)
    assert result.exit_code == 1
    assert "not an explorer index" in result.stderr and "Traceback" not in result.stderr
    assert _snapshot(documents) == before
    for command in (["add", str(photos / "red-0.png")], ["tag", "x"]):
        assert runner.invoke(app, [*command, "--index", str(documents)]).exit_code != 0
        assert _snapshot(documents) == before


def test_a_new_index_is_marked_and_cleanup_deletes_only_its_own_names(
    built: tuple[Path, Path],
) -> None:
    photos, index = built
    assert (index / MARKER).is_file()
    strays = {
        "notes-2024.txt": b"mine",
        "features-old.npy": b"not a generation name",
        ".report.html.tmp-draft": b"a user's draft",
    }
    for name, data in strays.items():
        (index / name).write_bytes(data)
    make_family_image(photos / "new.png", FAMILIES["red"], seed=99)
    assert _build(photos, index).exit_code == 0  # it holds foreign files, but it is marked
    for name, data in strays.items():
        assert (index / name).read_bytes() == data
    assert len([p for p in index.iterdir() if p.name.startswith("features-")]) == 2


def test_an_index_written_before_the_marker_is_still_ours(built: tuple[Path, Path]) -> None:
    photos, index = built
    (index / MARKER).unlink()
    make_family_image(photos / "new.png", FAMILIES["red"], seed=99)
    assert _build(photos, index).exit_code == 0
    assert (index / MARKER).is_file() and len(Index(index)) == 7


# ---------------------------------------------------------------- 2. symlinks


@pytest.mark.parametrize("command", ["build", "add", "tag"])
def test_a_lock_symlink_is_refused_and_its_target_untouched(
    built: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    photos, index = built
    decoy = tmp_path / "victim.txt"
    decoy.write_bytes(b"do not truncate me\n")
    (index / "lock").unlink(missing_ok=True)
    (index / "lock").symlink_to(decoy)
    make_family_image(photos / "new.png", FAMILIES["blue"], seed=77)
    args = {
        "build": ["build", str(photos), "--backbone", "pixels", "--no-report", "-q"],
        "add": ["add", str(photos / "new.png"), "-q"],
        "tag": ["tag", str(photos / "red-0.png"), "keep"],
    }[command]
    result = runner.invoke(app, [*args, "--index", str(index)])
    assert result.exit_code == 1 and "symlink" in result.stderr
    assert decoy.read_bytes() == b"do not truncate me\n"


@pytest.mark.parametrize("command", ["build", "add"])
def test_a_checkpoints_symlink_is_never_followed(
    built: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    photos, index = built
    decoy = _decoy(tmp_path)
    before = _snapshot(decoy)
    (index / "checkpoints").symlink_to(decoy, target_is_directory=True)
    make_family_image(photos / "new.png", FAMILIES["blue"], seed=77)
    if command == "build":
        result = _build(photos, index)
    else:
        result = runner.invoke(app, ["add", str(photos / "new.png"), "--index", str(index), "-q"])
    assert result.exit_code == 1 and "symlink" in result.stderr
    assert _snapshot(decoy) == before
    with pytest.raises(UnsafeIndexError):
        read_chunks(index)


def test_a_journal_symlink_gets_no_line(built: tuple[Path, Path], tmp_path: Path) -> None:
    photos, index = built
    decoy = tmp_path / "victim.log"
    decoy.write_bytes(b"precious\n")
    (index / "checkpoints").mkdir()
    (index / "checkpoints" / "decoding.log").symlink_to(decoy)
    make_family_image(photos / "new.png", FAMILIES["blue"], seed=77)
    result = _build(photos, index)
    assert result.exit_code == 1 and "symlink" in result.stderr
    assert decoy.read_bytes() == b"precious\n"


@pytest.mark.parametrize("name", ["manifest.json", "tags.json", "quarantine.json"])
def test_index_files_are_never_read_through_a_symlink(
    built: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    photos, index = built
    change_tags(index, ["red-0.png"], "kept")
    red = str(photos / "red-3.png")
    quarantine = {"version": 1, "files": {}}
    (index / "quarantine.json").write_text(json.dumps(quarantine))
    decoy = tmp_path / f"elsewhere-{name}"
    os.replace(index / name, decoy)
    before = decoy.read_bytes()
    (index / name).symlink_to(decoy)
    if name == "manifest.json":
        with pytest.raises(UnsafeIndexError, match="symlink"):
            Index(index)
    elif name == "tags.json":
        with pytest.raises(UnsafeIndexError, match="symlink"):
            load_tags(index)
        result = runner.invoke(app, ["tag", red, "x", "--index", str(index)])
        assert result.exit_code == 1 and "symlink" in result.stderr
    else:
        with pytest.raises(UnsafeIndexError, match="symlink"):
            load_quarantine(index)
    assert decoy.read_bytes() == before and (index / name).is_symlink()


# ---------------------------------------------------------------- 3. --out


def _fifo_reader(path: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as fh:
            got.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, got


def test_out_writes_through_a_fifo_and_never_replaces_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    thread, got = _fifo_reader(fifo)
    write_output_bytes(fifo, b"a,b\n1,2\n")
    thread.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and got == [b"a,b\n1,2\n"]


def test_out_to_a_device_or_fifo_keeps_it_what_it_is(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    """``--out /dev/null`` or ``/dev/stdout`` is written through, never replaced.

    Checked with a FIFO of our own (the same path through the code as a
    character device): a regression must not replace this machine's /dev/null.
    """
    _, index = built
    _fake_analysis(index)
    for command in ("export", "duplicates", "report"):
        fifo = tmp_path / f"{command}.pipe"
        os.mkfifo(fifo)
        thread, got = _fifo_reader(fifo)
        result = runner.invoke(app, [command, "--out", str(fifo), "--index", str(index), "-q"])
        thread.join(10)
        assert result.exit_code == 0, result.stderr
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and got
        assert (b"<html" if command == "report" else b"path") in got[0].lower()
    assert sorted(p.name for p in tmp_path.iterdir() if "pipe" in p.name) == [
        "duplicates.pipe",
        "export.pipe",
        "report.pipe",
    ]  # no report.pipe_files folder beside the pipe
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_out_over_an_existing_file_keeps_its_mode_and_follows_a_link(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    photos, index = built
    _fake_analysis(index)
    private = tmp_path / "private.csv"
    private.write_text("old")
    private.chmod(0o600)
    assert (
        runner.invoke(app, ["export", "--out", str(private), "--index", str(index)]).exit_code == 0
    )
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and "path" in private.read_text()
    link = tmp_path / "link.csv"
    link.symlink_to(private)
    args = ["duplicates", "--out", str(link), "--index", str(index)]
    assert runner.invoke(app, args).exit_code == 0
    assert link.is_symlink() and "group" in private.read_text()
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"old")
    grid.chmod(0o640)
    args = ["similar", str(photos / "red-0.png"), "--save", str(grid), "--index", str(index)]
    assert runner.invoke(app, args).exit_code == 0
    assert stat.S_IMODE(grid.stat().st_mode) == 0o640 and grid.read_bytes()[:4] == b"\x89PNG"


def test_out_inside_the_index_folder_is_refused(built: tuple[Path, Path]) -> None:
    _, index = built
    _fake_analysis(index)
    before = _snapshot(index)
    for command in (
        ["export", "--out", str(index / "catalogue.csv")],
        ["report", "--out", str(index / "report.html")],
    ):
        result = runner.invoke(app, [*command, "--index", str(index), "-q"])
        assert result.exit_code == 2 and "inside the index folder" in result.stderr
    assert _snapshot(index) == before
    photos = Path(Index(index).root)
    args = ["build", str(photos), "--index", str(index), "--backbone", "pixels", "--fresh"]
    result = runner.invoke(app, [*args, "--out", str(index / "r.html"), "-q"])
    assert result.exit_code == 2 and _snapshot(index) == before  # refused before building


# ---------------------------------------------------------------- 4. manifest trust


def test_unsealed_schema_1_manifest_never_verifies_ok(built: tuple[Path, Path]) -> None:
    photos, index = built
    manifest = json.loads((index / "manifest.json").read_text())
    del manifest["checksum"]
    manifest["schema"] = 1
    manifest["meta"] = {"seed": 5}  # a hand edit the seal would have caught
    (index / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["info", "--verify", "--index", str(index)])
    assert result.exit_code == 1 and "not sealed" in result.stdout
    assert "Seal it with 'explorer build FOLDER --index" in result.stdout
    assert _build(photos, index, "--seed", "5").exit_code == 0  # the next build seals it
    assert Index(index).verify() == [] and Index(index).sealed


@pytest.mark.parametrize("name", ["../outside/{}", "/{}", "sub/{}", "{}/../{}"])
def test_manifest_file_names_outside_the_index_are_never_opened(
    built: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    _, index = built
    outside = tmp_path / "outside"
    outside.mkdir()
    real = Index(index)._files["images"]["name"]
    # a perfect copy outside: a reader that follows the name would accept it
    (outside / real).write_bytes((index / real).read_bytes())
    target = name.format(real, real)
    if target.startswith("/"):
        target = str(outside / real)

    def edit(m: dict[str, object]) -> None:
        m["files"]["images"]["name"] = target  # type: ignore[index]

    _reseal(index, edit)
    with pytest.raises(IndexCorruptError, match=r"manifest\.json is damaged.*not a file name"):
        Index(index)


_CRAFTED = {
    "schema infinity": lambda m: m.update(schema=float("inf")),
    "schema nan": lambda m: m.update(schema=float("nan")),
    "schema text": lambda m: m.update(schema="2"),
    "count text": lambda m: m.update(count="6"),
    "count negative": lambda m: m.update(count=-1),
    "count infinite": lambda m: m.update(count=float("inf")),
    "files a list": lambda m: m.update(files=[]),
    "files entry null": lambda m: m["files"].update(images=None),
    "bytes negative": lambda m: m["files"]["features"].update(bytes=-5),
    "bytes huge": lambda m: m["files"]["features"].update(bytes=10**30),
    "sha not hex": lambda m: m["files"]["vectors"].update(sha256="zz"),
    "backbone missing": lambda m: m.pop("backbone"),
    "dim zero": lambda m: m["backbone"].update(dim=0),
    "root a number": lambda m: m.update(root=7),
    "meta a list": lambda m: m.update(meta=[1]),
    "analysis text": lambda m: m.update(analysis="x"),
}


@pytest.mark.parametrize("case", sorted(_CRAFTED))
def test_crafted_manifests_give_one_line_naming_the_file(
    built: tuple[Path, Path], case: str
) -> None:
    _, index = built
    _reseal(index, _CRAFTED[case])
    with pytest.raises(IndexCorruptError) as info:
        Index(index)
    assert "manifest.json" in str(info.value) and "explorer build FOLDER --fresh" in str(info.value)
    result = runner.invoke(app, ["info", "--index", str(index)])
    assert result.exit_code == 1 and result.exception is not None
    assert isinstance(result.exception, SystemExit) and "manifest.json" in result.stderr


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_index_json_is_refused(built: tuple[Path, Path], depth: int) -> None:
    _, index = built
    deep = b"[" * depth + b"]" * depth
    (index / "manifest.json").write_bytes(b'{"schema": 2, "x": ' + deep + b"}")
    with pytest.raises(IndexCorruptError, match="nested"):
        Index(index)
    (index / "tags.json").write_bytes(b'{"version": 2, "tags": ' + deep + b"}")
    with pytest.raises(IndexCorruptError, match="tags file"):
        load_tags(index)
    (index / "quarantine.json").write_bytes(b'{"version": 1, "files": ' + deep + b"}")
    assert load_quarantine(index) == {}


def test_a_record_of_the_wrong_type_is_refused(built: tuple[Path, Path]) -> None:
    _, index = built
    name = Index(index)._files["images"]["name"]
    images = json.loads((index / name).read_text())
    images["records"][0]["size"] = "big"
    payload = json.dumps(images).encode()
    (index / name).write_bytes(payload)

    def edit(m: dict[str, object]) -> None:
        m["files"]["images"].update(bytes=len(payload), sha256=fs.sha256_hex(payload))  # type: ignore[index]

    _reseal(index, edit)
    with pytest.raises(IndexCorruptError, match=r"records\[0\]\.size"):
        Index(index)


@pytest.mark.parametrize("damage", ["garbage", "flipped", "inconsistent"])
def test_a_damaged_checkpoint_chunk_is_dropped_and_re_extracted(
    built: tuple[Path, Path], damage: str
) -> None:
    photos, index = built
    for i in range(3):
        make_family_image(photos / f"more-{i}.png", FAMILIES["green"], seed=50 + i)
    result = _build(photos, index, "--checkpoint-every", "1", "--batch-size", "1")
    assert result.exit_code == 0
    # leave chunks behind as an interrupted run would: extract, do not commit
    from explorer.store.checkpoints import Chunk, write_chunk

    idx = Index(index)
    chunk = Chunk(
        idx.backbone, idx.records[:2], [], np.asarray(idx.features[:2]), idx.thumbnails()[:2]
    )
    path = write_chunk(index, chunk)
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"PK\x03\x04" + os.urandom(200))
    elif damage == "flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        chunk.features = np.full((2, idx.backbone.dim), np.nan, np.float16)
        path.unlink()
        data = bytearray(write_chunk(index, chunk).read_bytes())
    path.write_bytes(bytes(data))
    idx.close()
    assert read_chunks(index) == [] or (damage == "flipped" and len(read_chunks(index)) <= 1)
    (photos / "red-0.png").touch()
    os.utime(photos / "red-0.png", ns=(1, 1))
    for _ in range(2):  # every later build works, not only the next one
        result = _build(photos, index)
        assert result.exit_code == 0, result.stderr
    assert Index(index).verify() == []


# ---------------------------------------------------------------- 5. readers during a commit


def _generation(path: Path) -> IndexData:
    """The committed generation at ``path``, whole, for a second writer to commit again."""
    idx = Index(path)
    idx.verify_features()
    classes = idx.classes()
    return IndexData(
        root=idx.root,
        backbone=idx.backbone,
        records=list(idx.records),
        skipped=list(idx.skipped),
        features=np.asarray(idx.features),
        vectors=np.asarray(idx.vectors),
        projection=idx.projection(),
        thumbnails=idx.thumbnails(),
        class_ids=classes[0] if classes else None,
        class_probs=classes[1] if classes else None,
        analysis=idx.analysis(),
        meta=dict(idx.manifest.get("meta") or {}),
    )


def test_a_reader_that_meets_a_commit_reads_the_new_generation(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, index = built
    data = _generation(index)
    real = BackboneInfo.from_json
    fired: list[bool] = []

    def commit_in_between(raw: dict[str, object]) -> object:
        if not fired:  # the manifest is read; a writer commits before the files are opened
            fired.append(True)
            save_index(index, data)
        return real(raw)

    monkeypatch.setattr(BackboneInfo, "from_json", staticmethod(commit_in_between))
    idx = Index(index)
    assert fired and len(idx) == len(data) and idx.verify() == []


def _commit_forever(index: str, stop: multiprocessing.synchronize.Event) -> None:
    data = _generation(Path(index))
    while not stop.is_set():
        save_index(Path(index), data)


@pytest.mark.slow
def test_readers_never_see_damage_while_a_writer_commits(built: tuple[Path, Path]) -> None:
    _, index = built
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    writer = ctx.Process(target=_commit_forever, args=(str(index), stop))
    writer.start()
    try:
        deadline = time.monotonic() + 4
        opened = 0
        while time.monotonic() < deadline:
            idx = Index(index)
            assert len(idx) == 6 and idx.thumbnails()
            idx.close()
            opened += 1
    finally:
        stop.set()
        writer.join(20)
    assert opened > 20


# ---------------------------------------------------------------- 6. NaN


def test_identical_images_give_no_nan_and_score_one(tmp_path: Path) -> None:
    photos = tmp_path / "same"
    photos.mkdir()
    make_family_image(photos / "a.png", FAMILIES["red"], seed=1)
    for name in ("b.png", "c.png"):
        (photos / name).write_bytes((photos / "a.png").read_bytes())
    index = tmp_path / "idx"
    assert _build(photos, index).exit_code == 0
    idx = Index(index)
    pca = idx.projection()
    for array in (pca.mean, pca.components, pca.explained_variance_ratio, idx.vectors):
        assert np.isfinite(array).all()
    assert idx.verify() == []
    result = runner.invoke(app, ["similar", str(photos / "a.png"), "--json", "--index", str(index)])
    scores = [m["score"] for m in json.loads(result.stdout)["results"]]
    assert scores == [1.0, 1.0]


def test_verify_finds_nan_anywhere_in_the_pca(built: tuple[Path, Path]) -> None:
    _, index = built
    idx = Index(index)
    pca = idx.projection()
    ratio = pca.explained_variance_ratio.copy()
    ratio[-1] = np.nan
    payload = npz_bytes(mean=pca.mean, components=pca.components, explained_variance_ratio=ratio)
    name = idx._files["pca"]["name"]
    (index / name).write_bytes(payload)

    def edit(m: dict[str, object]) -> None:
        m["files"]["pca"].update(bytes=len(payload), sha256=fs.sha256_hex(payload))  # type: ignore[index]

    _reseal(index, edit)
    assert any("NaN" in p for p in Index(index).verify())


# ---------------------------------------------------------------- 7. smaller breaks


def test_disk_full_leaves_no_files_of_the_failed_generation(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, index = built
    data = _generation(index)
    before = sorted(p.name for p in index.iterdir())
    fill_disk_at_manifest(monkeypatch)
    for _ in range(3):  # retries do not pile up
        with pytest.raises(OSError, match="previous index is intact"):
            save_index(index, data)
    assert sorted(p.name for p in index.iterdir()) == before


def test_first_build_on_a_full_disk_does_not_claim_a_previous_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = _photos(tmp_path / "photos")

    def full(path: Path, write: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(commit, "atomic_write", full)
    result = _build(photos, tmp_path / "idx")
    assert result.exit_code == 1 and "disk full" in result.stderr
    assert "previous index is intact" not in result.stderr


def test_a_flipped_byte_in_tags_is_refused_not_lost(built: tuple[Path, Path]) -> None:
    _, index = built
    change_tags(index, ["red-0.png", "green-1.png"], "holiday")
    data = bytearray((index / "tags.json").read_bytes())
    at = data.index(b"holiday") + 2
    data[at] ^= 0x01
    (index / "tags.json").write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"tags file .* damaged"):
        load_tags(index)


def test_a_legacy_tags_file_without_checksum_is_read(built: tuple[Path, Path]) -> None:
    _, index = built
    (index / "tags.json").write_text(json.dumps({"version": 1, "tags": {"a.png": ["x"]}}))
    assert load_tags(index) == {"a.png": ["x"]}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [2, 3, 5, 8, 11])
def test_very_short_cuts_are_truncated_not_unknown(tmp_path: Path, fmt: str, keep: int) -> None:
    from PIL import Image

    path = make_family_image(tmp_path / "x.png", FAMILIES["red"], seed=3)
    buf = io.BytesIO()
    with Image.open(path) as im:
        im.save(buf, fmt)
    cut = tmp_path / "cut.img"
    cut.write_bytes(buf.getvalue()[:keep])
    result = load_image(cut)
    assert isinstance(result, Skipped) and result.reason is SkipReason.TRUNCATED


def test_a_png_missing_only_its_end_marker_is_indexed(tmp_path: Path) -> None:
    """Documented decision: every pixel is there, only IEND is cut; nothing is grey-filled."""
    path = make_family_image(tmp_path / "x.png", FAMILIES["red"], seed=3)
    data = path.read_bytes()
    assert data.endswith(b"IEND\xaeB`\x82")
    for missing in range(1, 11):
        cut = tmp_path / f"cut{missing}.png"
        cut.write_bytes(data[:-missing])
        assert not isinstance(load_image(cut), Skipped)


# ---------------------------------------------------------------- 8. output hygiene


def test_export_csv_cells_cannot_run_as_formulas() -> None:
    rows = [{"path": '=HYPERLINK("x")', "tags": "+1;-2", "cluster": -1, "name": "@sum"}]
    text = rows_csv(rows, ["path", "tags", "cluster", "name"])
    line = text.splitlines()[1]
    assert line.startswith("\"'=HYPERLINK") and ",'+1;-2,-1,'@sum" in line


def test_names_with_newlines_and_escapes_stay_one_line(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _photos(photos, 4)
    evil = "red-0\x1b[2J\n     1   0.999  fake.png"
    os.rename(photos / "red-0.png", photos / evil)
    index = tmp_path / "idx"
    assert _build(photos, index).exit_code == 0
    result = runner.invoke(app, ["similar", str(photos / "green-1.png"), "--index", str(index)])
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "fake.png" in result.stdout
    assert len(result.stdout.splitlines()) == 2 + 3  # query, header, 3 results
    assert display_path(evil) == "red-0\\x1b[2J\\n     1   0.999  fake.png"


# ---------------------------------------------------------------- 9. second probe


def test_verify_checks_the_analysis_and_export_gives_one_line(built: tuple[Path, Path]) -> None:
    _, index = built
    _fake_analysis(index)
    idx = Index(index)
    z = idx._npz("analysis")
    z["labels"] = z["labels"] + 5  # clusters that do not exist
    payload = npz_bytes(**z)
    (index / idx._files["analysis"]["name"]).write_bytes(payload)

    def edit(m: dict[str, object]) -> None:
        m["files"]["analysis"].update(bytes=len(payload), sha256=fs.sha256_hex(payload))  # type: ignore[index]

    _reseal(index, edit)
    assert any("cluster labels" in p for p in Index(index).verify())
    result = runner.invoke(app, ["export", "--index", str(index)])
    assert result.exit_code == 1 and "cluster labels" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_an_analysis_of_another_generation_is_not_stored(built: tuple[Path, Path]) -> None:
    _, index = built
    idx = Index(index)
    n = len(idx)
    stale = Analysis(
        np.zeros(n + 4, np.int32),
        np.zeros((1, 2), np.float32),
        np.zeros((n + 4, 2), np.float32),
        np.zeros((n + 4, 1), np.int32),
        np.zeros((n + 4, 1), np.float32),
        {"k": 1, "generation": "19990101000000-abcdef"},
    )
    before = json.loads((index / "manifest.json").read_text())
    with lock_index(index, command="test"):
        assert not save_analysis(index, stale)
    assert json.loads((index / "manifest.json").read_text()) == before
    assert Index(index).analysis() is None and Index(index).verify() == []


def test_verify_finds_an_analysis_of_more_rows_than_images(built: tuple[Path, Path]) -> None:
    """What a report racing ``build --fresh`` left before: 10 rows for 6 images."""
    _, index = built
    _fake_analysis(index)
    idx = Index(index)
    z = idx._npz("analysis")
    z = {k: np.concatenate([v, v[:4]]) if k != "centers" else v for k, v in z.items()}
    payload = npz_bytes(**z)
    (index / idx._files["analysis"]["name"]).write_bytes(payload)

    def edit(m: dict[str, object]) -> None:
        m["files"]["analysis"].update(bytes=len(payload), sha256=fs.sha256_hex(payload))  # type: ignore[index]

    _reseal(index, edit)
    assert any("10 rows for 6 images" in p for p in Index(index).verify())


def test_catalogue_commands_meet_the_lock_before_working(built: tuple[Path, Path]) -> None:
    _, index = built
    with lock_held_elsewhere(index, command="explorer build photos"):
        for command in (["duplicates"], ["clusters"], ["export"], ["report"]):
            started = time.monotonic()
            result = runner.invoke(app, [*command, "--index", str(index), "-q"])
            assert result.exit_code == 1 and "being written by" in " ".join(result.stderr.split())
            assert time.monotonic() - started < 5


class _StoppedFuture:
    """A decode that takes 0.3 s of running time, during which the process is stopped 1 h."""

    def __init__(self, clock: list[float]) -> None:
        self.clock, self.calls = clock, 0

    def result(self, timeout: float | None = None) -> str:
        self.calls += 1
        assert timeout is not None
        if self.calls == 1:
            self.clock[0] += 3600.0  # SIGSTOP ... SIGCONT: the wall clock ran on
            raise FutureTimeout
        if self.calls < 4:
            self.clock[0] += timeout
            raise FutureTimeout
        return "decoded"


def test_a_paused_build_does_not_count_the_pause_as_decode_time() -> None:
    clock = [0.0]
    future = _StoppedFuture(clock)
    result = result_within(future, 5.0, clock=lambda: clock[0], tick=0.5)  # type: ignore[arg-type]
    assert result == "decoded"
    hung = _StoppedFuture(clock)
    hung.calls = -100  # never finishes: still stops after about the timeout of running time
    with pytest.raises(FutureTimeout):
        result_within(hung, 5.0, clock=lambda: clock[0], tick=0.5)  # type: ignore[arg-type]
    assert hung.calls - -100 <= 5.0 / 0.5 + 1


def test_numba_gets_a_writable_cache_when_home_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/dev/null")  # not a folder: nothing can be created under it
    folder = numba_cache()
    assert folder is not None and os.environ["NUMBA_CACHE_DIR"] == str(folder)
    assert folder.is_dir() and os.access(folder, os.W_OK)
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert numba_cache() is None  # a writable home: numba's own choice stands


@dataclass(frozen=True)
class _FutureRecord:
    """A record as another branch may extend it: new optional fields with defaults."""

    path: str
    size: int
    sharpness: float | None = None
    camera: str | None = None
    taken: tuple[int, ...] = ()


def test_record_validation_follows_the_dataclass_fields() -> None:
    assert from_json(_FutureRecord, {"path": "a.jpg", "size": 3}) == _FutureRecord("a.jpg", 3)
    full = {"path": "a.jpg", "size": 3, "sharpness": 1, "camera": "X", "taken": [2024, 5]}
    assert from_json(_FutureRecord, full) == _FutureRecord("a.jpg", 3, 1.0, "X", (2024, 5))
    for bad, why in [
        ({"path": "a.jpg"}, "missing field 'size'"),
        ({"path": "a.jpg", "size": True}, "size"),
        ({"path": "a.jpg", "size": 1, "sharpness": "high"}, "sharpness"),
        ({"path": "a.jpg", "size": 1, "sharpness": 1e400}, "sharpness"),
        ({"path": "a.jpg", "size": 1, "extra": 1}, "unknown field"),
        ({"path": 7, "size": 1}, "path"),
    ]:
        with pytest.raises(ValueError, match=why):
            from_json(_FutureRecord, bad)
