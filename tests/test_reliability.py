"""Promises of docs/reliability.md: kills at any point, a full disk, the lock.

Builds run as real subprocesses with the model-free ``pixels`` backbone, and are
killed deterministically with SIGKILL by the ``EXPLORER_FAULT`` hook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from explorer.cli import app
from explorer.store import commit as index_mod
from explorer.store.index import Index
from tests.helpers import (
    FAMILIES,
    family_images,
    fill_disk_at_manifest,
    make_family_image,
    name_bytes,
)

N_IMAGES = 24


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return family_images(tmp_path / "photos", N_IMAGES, digits=2)


def _build(
    photos: Path, index: Path, *, fault: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "EXPLORER_FAULT"}, **(env or {})}
    if fault:
        env["EXPLORER_FAULT"] = fault
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "explorer",
            "build",
            str(photos),
            "--index",
            str(index),
            "--backbone",
            "pixels",
            "--checkpoint-every",
            "4",
            "--batch-size",
            "4",
            "--no-report",
            "--json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _same_index(a: Path, b: Path) -> None:
    x, y = Index(a), Index(b)
    assert [(r.path, r.sha256) for r in x.records] == [(r.path, r.sha256) for r in y.records]
    assert np.allclose(np.asarray(x.features, np.float32), np.asarray(y.features, np.float32))
    px, py = x.projection(), y.projection()
    assert np.allclose(np.abs(px.components), np.abs(py.components), atol=1e-4)
    assert x.verify() == [] and y.verify() == []


def _leftovers(index: Path) -> list[str]:
    return [p.name for p in index.rglob("*") if ".tmp-" in p.name or p.parent.name == "checkpoints"]


@pytest.fixture
def reference(photos: Path, tmp_path: Path) -> Path:
    ref = tmp_path / "reference"
    assert _build(photos, ref).returncode == 0
    return ref


@pytest.mark.parametrize(
    ("fault", "checkpointed"),
    [
        ("chunk:1", 4),
        ("chunk:3", 12),
        ("write:2", 4),  # inside the second chunk's write
        ("commit", 24),
        ("write:8", 24),  # inside the index's second data file (after 6 chunks)
    ],
)
@pytest.mark.slow
def test_kill_then_rerun_equals_an_uninterrupted_build(
    photos: Path, tmp_path: Path, reference: Path, fault: str, checkpointed: int
) -> None:
    index = tmp_path / "idx"
    killed = _build(photos, index, fault=fault)
    assert killed.returncode == -signal.SIGKILL
    assert not (index / "manifest.json").exists()  # the first build never became current
    if fault.startswith("write"):
        assert any(".tmp-" in p.name for p in index.rglob("*"))  # killed mid-write
    resumed = _build(photos, index)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed"] == checkpointed  # checkpointed images are not extracted again
    assert summary["indexed"] == N_IMAGES - checkpointed
    _same_index(index, reference)
    assert _leftovers(index) == []


@pytest.mark.slow
def test_kill_during_a_rebuild_keeps_the_old_index(photos: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    assert _build(photos, index).returncode == 0
    before = Index(index)
    old = [r.path for r in before.records]
    make_family_image(photos / "new.png", FAMILIES["red"], seed=99)
    for fault in ("commit", "committed"):
        assert _build(photos, index, fault=fault).returncode == -signal.SIGKILL
        paths = [r.path for r in Index(index).records]
        assert paths == old if fault == "commit" else "new.png" in paths
        assert Index(index).verify() == []
    done = _build(photos, index)
    assert done.returncode == 0 and "new.png" in [r.path for r in Index(index).records]
    assert _leftovers(index) == []


def test_disk_full_keeps_the_previous_index(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "idx"
    runner = CliRunner()
    args = ["build", str(photos), "--index", str(index), "--backbone", "pixels", "--no-report"]
    assert runner.invoke(app, args).exit_code == 0
    generation = Index(index).manifest["generation"]
    make_family_image(photos / "new.png", FAMILIES["blue"], seed=5)
    real = fill_disk_at_manifest(monkeypatch)
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "disk full" in result.stderr and "previous index is intact" in result.stderr
    assert "Traceback" not in result.stderr
    monkeypatch.setattr(index_mod, "atomic_write", real)
    idx = Index(index)
    assert idx.manifest["generation"] == generation and idx.verify() == []
    assert [p for p in index.iterdir() if ".tmp-" in p.name] == []


_MARK = b"qz9-"


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(
        name_bytes(24) | st.sampled_from([b"<img src=x onerror=alert(1)>", b"a&b\"'<"]),
        min_size=1,
        max_size=3,
        unique=True,
    )
)
def test_arbitrary_byte_names_round_trip_and_stay_text_in_the_report(names: list[bytes]) -> None:
    from explorer.jobs.build import build
    from explorer.jobs.report import report

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        root.mkdir()
        # a marker makes each name distinctive: a bare "<" is in every HTML page
        stems = [_MARK + name for name in names]
        for i, stem in enumerate(stems):
            path = os.fsencode(root) + b"/" + stem + b".png"
            make_family_image(Path(os.fsdecode(path)), FAMILIES["red"], seed=i, size=32)
        index = Path(tmp) / "idx"
        build(root, index_path=index, backbone="pixels")
        stored = sorted(os.fsencode(root / r.path) for r in Index(index).records)
        assert stored == sorted(os.fsencode(root) + b"/" + s + b".png" for s in stems)
        html = report(index, out=Path(tmp) / "r.html").path.read_text(errors="strict")
        assert html.count(os.fsdecode(_MARK)) >= len(stems)  # every name is shown
        for stem in stems:
            text = os.fsdecode(stem)
            if any(ch in text for ch in "<>&"):
                assert text not in html  # only ever present escaped
        assert "<img src=x" not in html


@pytest.mark.parametrize(
    ("fault", "reason"), [("decode-crash", "decoder_crash"), ("decode-hang", "decode_timeout")]
)
@pytest.mark.slow
def test_poison_file_is_quarantined_instead_of_killing_every_run(
    photos: Path, tmp_path: Path, fault: str, reason: str
) -> None:
    index = tmp_path / "idx"
    poison = "red-09.png"
    env = {"EXPLORER_FAULT": f"{fault}:{poison}", "EXPLORER_DECODE_TIMEOUT": "3"}
    first = _build(photos, index, env=env)
    assert first.returncode == (-signal.SIGKILL if fault == "decode-crash" else 3)
    if fault == "decode-hang":
        assert "did not finish in 3 s" in first.stderr and "Traceback" not in first.stderr
    second = _build(photos, index, env=env)  # the file still crashes or hangs its decoder
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["skipped"] == {reason: 1}
    assert summary["images"] == N_IMAGES - 1
    assert {s.path: s.reason for s in Index(index).skipped} == {poison: reason}
    third = _build(photos, index, env=env)  # skipped at once, never decoded again
    assert third.returncode == 0 and json.loads(third.stdout)["skipped"] == {reason: 1}
    # once the file changes it gets another chance
    make_family_image(photos / poison, FAMILIES["red"], seed=123)
    fourth = _build(photos, index)
    assert fourth.returncode == 0 and json.loads(fourth.stdout)["images"] == N_IMAGES
