"""The Ray engine gives the same index as the local one, bad files and dead workers included.

One local Ray instance (``ray.init(num_cpus=2)``) serves the whole module. Ray
workers cannot see the test-only ``fake`` backbone, so these tests use the
model-free ``pixels`` backbone, and the real EfficientNet-Lite0 once.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray
from typer.testing import CliRunner

from explorer.cli import app
from explorer.errors import UsageError
from explorer.jobs.build import BuildSummary, build
from explorer.jobs.engine import Engine
from explorer.store.index import Index
from tests.helpers import FAMILIES, family_images, make_family_image

RAY = Engine("ray")
CLIPART = Path(__file__).parent / "data" / "clipart"


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    # As explorer.jobs.engine.import_ray does: Ray must not replace builtins.print,
    # even when this fixture's ray.init runs before the first --engine ray build.
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024**2,
        logging_level="WARNING",
    )
    yield
    ray.shutdown()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """30 images in 3 colour families plus one file of each kind of bad input."""
    root = family_images(tmp_path / "photos", 30, first_seed=200, digits=2, nested_every=7)
    (root / "truncated.png").write_bytes((root / "green-01.png").read_bytes()[:400])
    (root / "not-an-image.jpg").write_bytes(b"this is text, not a JPEG\n" * 20)
    (root / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def _build(photos: Path, index: Path, engine: Engine, **kw: Any) -> BuildSummary:
    """A ``pixels`` build with 4 images per model batch: 8 per Ray task, so several tasks."""
    return build(photos, index_path=index, backbone="pixels", batch_size=4, engine=engine, **kw)


def _same_index(a: Path, b: Path, *, atol: float = 1e-6) -> None:
    x, y = Index(a), Index(b)
    assert [r.path for r in x.records] == [r.path for r in y.records]
    assert [(r.sha256, r.width, r.height) for r in x.records] == [
        (r.sha256, r.width, r.height) for r in y.records
    ]
    np.testing.assert_allclose(
        np.asarray(x.features, np.float32), np.asarray(y.features, np.float32), atol=atol
    )
    np.testing.assert_allclose(np.asarray(x.vectors), np.asarray(y.vectors), atol=max(atol, 1e-5))
    assert x.skipped == y.skipped


@pytest.mark.slow
def test_ray_and_local_give_the_same_index_with_bad_files(
    ray_local: None, photos: Path, tmp_path: Path
) -> None:
    local = _build(photos, tmp_path / "local", Engine("local"))
    remote = _build(photos, tmp_path / "ray", RAY)
    assert remote.images == local.images == 30
    assert remote.skipped == local.skipped
    assert set(remote.skipped) == {"truncated", "not_an_image", "empty_file"}
    assert remote.model_loaded and remote.model_load_seconds > 0
    _same_index(tmp_path / "local", tmp_path / "ray")
    assert not (tmp_path / "ray" / "checkpoints").exists() or not any(
        (tmp_path / "ray" / "checkpoints").glob("chunk-*")
    )


@pytest.mark.slow
def test_ray_rebuild_extracts_only_new_files(ray_local: None, photos: Path, tmp_path: Path) -> None:
    _build(photos, tmp_path / "idx", RAY)
    make_family_image(photos / "blue-new.png", FAMILIES["blue"], seed=999)
    again = _build(photos, tmp_path / "idx", RAY)
    assert (again.indexed, again.unchanged, again.images) == (1, 30, 31)


@pytest.mark.slow
def test_killed_worker_is_retried_and_nothing_is_lost_or_doubled(
    ray_local: None, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "worker-killed"
    monkeypatch.setenv("EXPLORER_FAULT", "decode-crash:blue-05.png")
    monkeypatch.setenv("EXPLORER_FAULT_ONCE", str(marker))
    summary = _build(photos, tmp_path / "ray", RAY, checkpoint_every=8)
    assert marker.exists(), "the fault hook never killed a worker"
    # Ray reported the dead worker on the driver; print must still be the
    # builtin, or numba cannot compile UMAP and pynndescent afterwards
    assert isinstance(builtins.print, types.BuiltinFunctionType)
    assert summary.images == 30 and "decoder_crash" not in summary.skipped
    paths = [r.path for r in Index(tmp_path / "ray").records]
    assert len(paths) == len(set(paths)) == 30 and "blue-05.png" in paths
    monkeypatch.delenv("EXPLORER_FAULT")
    _build(photos, tmp_path / "local", Engine("local"))
    _same_index(tmp_path / "local", tmp_path / "ray")


@pytest.mark.slow
def test_poison_file_is_quarantined_with_the_local_reason(
    ray_local: None, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPLORER_FAULT", "decode-crash:green-04.png")
    summary = _build(photos, tmp_path / "ray", RAY)
    assert summary.skipped.get("decoder_crash") == 1 and summary.images == 29
    quarantined = json.loads((tmp_path / "ray" / "quarantine.json").read_text())["files"]
    assert list(quarantined) == ["green-04.png"]
    assert quarantined["green-04.png"]["reason"] == "decoder_crash"
    skipped = {s.path: s.reason for s in Index(tmp_path / "ray").skipped}
    assert skipped["green-04.png"] == "decoder_crash"
    again = _build(photos, tmp_path / "ray", RAY)  # the quarantine holds without a re-probe
    assert again.skipped == summary.skipped and not again.model_loaded


@pytest.mark.slow
def test_hanging_decode_is_quarantined_as_decode_timeout(
    ray_local: None, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPLORER_FAULT", "decode-hang:red-09.png")
    monkeypatch.setenv("EXPLORER_DECODE_TIMEOUT", "2")
    summary = _build(photos, tmp_path / "ray", RAY)
    assert summary.skipped.get("decode_timeout") == 1 and summary.images == 29


@pytest.mark.slow
def test_interrupted_ray_build_resumes_from_its_checkpoints(
    ray_local: None, photos: Path, tmp_path: Path
) -> None:
    seen = [0]

    def stop_after_16(label: str, total: int) -> Callable[[int], None]:
        def advance(n: int) -> None:
            seen[0] += n
            if label == "extracting" and seen[0] >= 16:
                raise KeyboardInterrupt

        return advance

    with pytest.raises(KeyboardInterrupt):
        _build(photos, tmp_path / "ray", RAY, checkpoint_every=4, progress=stop_after_16)
    resumed = _build(photos, tmp_path / "ray", RAY, checkpoint_every=4)
    assert resumed.resumed >= 8 and resumed.images == 30
    assert resumed.indexed == 30 - resumed.resumed
    _build(photos, tmp_path / "local", Engine("local"))
    _same_index(tmp_path / "local", tmp_path / "ray")


@pytest.mark.slow
def test_lite0_on_ray_workers_matches_local(ray_local: None, tmp_path: Path) -> None:
    photos = tmp_path / "clipart"
    for folder in ("clocks", "fruit", "smileys"):
        shutil.copytree(CLIPART / folder, photos / folder)
    kw: dict[str, Any] = {"backbone": "efficientnet-lite0", "batch_size": 8}
    local = build(photos, index_path=tmp_path / "local", **kw)
    remote = build(photos, index_path=tmp_path / "ray", engine=RAY, **kw)
    assert remote.images == local.images == 30
    _same_index(tmp_path / "local", tmp_path / "ray", atol=1e-2)  # float16 storage, other threads
    a, b = Index(tmp_path / "local"), Index(tmp_path / "ray")
    assert a.backbone == b.backbone
    ca, cb = a.classes(), b.classes()
    assert ca is not None and cb is not None
    assert np.mean(ca[0][:, 0] == cb[0][:, 0]) >= 0.9  # same top class (near-ties may swap)


@pytest.mark.slow
def test_cli_ray_engine(ray_local: None, photos: Path, tmp_path: Path) -> None:
    args = ["build", str(photos), "--index", str(tmp_path / "idx"), "--backbone", "pixels"]
    result = CliRunner().invoke(app, [*args, "--engine", "ray", "--workers", "2", "--no-report"])
    assert result.exit_code == 0, result.output
    assert "Indexed 30" in result.output
    bad = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert bad.exit_code == 2 and "local, ray" in bad.output


def test_engine_validates_its_parameters() -> None:
    with pytest.raises(UsageError, match="unknown engine"):
        Engine("dask")
    with pytest.raises(UsageError, match="--workers"):
        Engine("ray", workers=0)


def test_without_ray_the_cli_says_what_to_install(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    result = CliRunner().invoke(
        app, ["build", str(photos), "--index", str(tmp_path / "idx"), "--engine", "ray"]
    )
    assert result.exit_code == 2
    assert 'pip install "explorer[ray]"' in result.output
    assert not (tmp_path / "idx").exists()


@pytest.mark.slow
def test_cli_starts_its_own_local_ray_instance(photos: Path, tmp_path: Path) -> None:
    """A real ``explorer build --engine ray`` process starts (and stops) a local Ray."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "EXPLORER_FAULT")}
    index = tmp_path / "idx"
    args = ["build", str(photos), "--index", str(index), "--backbone", "pixels"]
    proc = subprocess.run(
        [sys.executable, "-m", "explorer", *args, "--engine", "ray", "--no-report", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["images"] == 30 and summary["model_loaded"]
    assert summary["skipped"] == {"truncated": 1, "not_an_image": 1, "empty_file": 1}
