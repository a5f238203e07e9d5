"""An index written before the redesign (commit f6ce541) still opens and serves every command.

``tests/data/index-f6ce541`` was written by that commit with
``explorer build <folder> --backbone pixels --index <index>`` over the 20
clip-art files in ``tests/data/clipart/fruit`` and ``tests/data/clipart/flags``
(copied into one folder, ``/tmp/oldimgs``). Commands that need only the index
(info, similar, duplicates, clusters, export, report) must work on it unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import explorer
from explorer.cli import app

DATA = Path(__file__).parent / "data"
OLD = DATA / "index-f6ce541"
QUERY = DATA / "clipart" / "fruit" / "grape_01.png"
runner = CliRunner()


@pytest.fixture
def old_index(tmp_path: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(OLD, copy)
    return copy


def _ok(*args: str) -> str:
    out = runner.invoke(app, list(args))
    assert out.exit_code == 0, out.output
    return out.stdout


def test_the_old_index_opens_through_the_python_api(old_index: Path) -> None:
    index = explorer.open_index(str(old_index))
    assert len(index) == 20
    assert index.backbone.name == "pixels"
    names = {Path(r.path).name for r in index.records}
    assert "grape_01.png" in names and "albania.png" in names


def test_info_similar_duplicates_clusters_and_export_read_it(old_index: Path) -> None:
    info = json.loads(_ok("info", "--index", str(old_index), "--json"))
    assert info["images"] == 20 and info["analysis"]["k"] == 3
    found = json.loads(_ok("similar", str(QUERY), "--index", str(old_index), "--json"))
    top = found["results"][0]
    assert Path(top["path"]).name == "grape_01.png" and top["score"] == pytest.approx(1.0)
    dups = json.loads(_ok("duplicates", "--index", str(old_index), "--json"))
    assert dups["groups"] == []  # 20 different drawings
    clusters = json.loads(_ok("clusters", "--index", str(old_index), "--json"))
    assert sum(c["size"] for c in clusters) == 20
    rows = list(csv.DictReader(io.StringIO(_ok("export", "--index", str(old_index)))))
    assert len(rows) == 20 and {"path", "cluster", "taken", "camera"} <= set(rows[0])


def test_a_report_is_written_from_it(old_index: Path, tmp_path: Path) -> None:
    page = tmp_path / "old.html"
    _ok("report", "--index", str(old_index), "--out", str(page), "-q")
    html = page.read_text(encoding="utf-8")
    assert "grape_01.png" in html and "data:image/webp;base64," in html
