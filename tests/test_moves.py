"""``explorer duplicates --move-to DIR`` and ``--undo DIR``: nothing is ever lost.

The folder is the one of test_catalog (three known duplicate groups, four
review images), indexed with the model-free ``pixels`` backbone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from explorer.cli import app
from explorer.errors import UsageError
from explorer.jobs.build import build
from explorer.jobs.catalog import duplicates
from explorer.jobs.moves import JOURNAL, move_reviews, undo_moves
from tests.helpers import make_catalog_photos

runner = CliRunner()
THRESHOLD = "0.95"


def _digests(root: Path) -> dict[str, str]:
    return {
        os.fsdecode(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, Path]:
    photos = make_catalog_photos(tmp_path / "photos")
    (photos / "sub").mkdir()
    os.replace(photos / "red-0-q40.jpg", photos / "sub" / "red-0-q40.jpg")  # a nested path
    index = tmp_path / "idx"
    build(photos, index_path=index, backbone="pixels")
    return photos, index


def test_move_then_undo_restores_every_byte(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    photos, index = indexed
    before = _digests(photos)
    _, sets, _ = duplicates(index, threshold=float(THRESHOLD))
    reviews = [m for s in sets for m in s.members if not m.keep]
    assert len(reviews) >= 3
    dest = tmp_path / "review"
    out = runner.invoke(
        app, ["duplicates", "--index", str(index), "--threshold", THRESHOLD, "--move-to", str(dest)]
    )
    assert out.exit_code == 0, out.output
    moved = _digests(dest)
    assert JOURNAL in moved
    # every review image left the folder and sits at its relative path under dest
    for m in reviews:
        rel = os.path.relpath(os.path.abspath(m.path), photos)
        assert not (photos / rel).exists()
        assert moved[rel] == before[rel]
    assert set(_digests(photos)) == set(before) - {
        os.path.relpath(os.path.abspath(m.path), photos) for m in reviews
    }
    out = runner.invoke(app, ["duplicates", "--index", str(index), "--undo", str(dest)])
    assert out.exit_code == 0, out.output
    assert f"put back {len(reviews)} files" in out.output
    assert _digests(photos) == before
    assert not (dest / JOURNAL).exists()


def test_move_is_refused_when_a_target_exists(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    photos, index = indexed
    before = _digests(photos)
    _, sets, _ = duplicates(index, threshold=float(THRESHOLD))
    review = next(m for s in sets for m in s.members if not m.keep)
    dest = tmp_path / "review"
    target = dest / os.path.relpath(os.path.abspath(review.path), photos)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"someone else's file")
    with pytest.raises(UsageError, match="target exists"):
        move_reviews(sets, root=photos, dest=dest)
    assert _digests(photos) == before  # nothing moved
    assert target.read_bytes() == b"someone else's file"
    with pytest.raises(UsageError, match="outside the indexed folder"):
        move_reviews(sets, root=photos, dest=photos / "dups")
    with pytest.raises(UsageError, match="no move journal"):
        undo_moves(tmp_path / "nowhere")


@pytest.mark.slow
def test_sigkill_during_move_loses_no_file(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    photos, index = indexed
    before = _digests(photos)
    duplicates(index, threshold=float(THRESHOLD))  # analysis stored: the child loads no model
    dest = tmp_path / "review"
    env = {**os.environ, "EXPLORER_FAULT": "move:2"}  # killed after the second file moved
    args = ["duplicates", "--index", str(index), "--threshold", THRESHOLD, "--move-to", str(dest)]
    done = subprocess.run(
        [sys.executable, "-m", "explorer", *args], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == -9, done.stderr
    after = {**_digests(photos), **{k: v for k, v in _digests(dest).items() if k != JOURNAL}}
    assert after == before  # every file at its old or its new place, bytes intact
    assert 0 < len(_digests(dest)) - 1 < sum(1 for _ in before)
    out = runner.invoke(app, ["duplicates", "--index", str(index), "--undo", str(dest)])
    assert out.exit_code == 0, out.output
    assert "put back 2 files" in out.output
    assert _digests(photos) == before
