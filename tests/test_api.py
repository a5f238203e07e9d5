"""The public Python API (``explorer.build``, ``add``, ``similar``, ``report``, ``open_index``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import explorer
from explorer.errors import IndexMissingError, UsageError
from tests.conftest import Loads

REPO = Path(__file__).resolve().parents[1]


def test_import_explorer_is_cheap_and_loads_the_api_on_first_use() -> None:
    probe = (
        "import sys, explorer\n"
        "heavy = ('tensorflow', 'keras', 'umap', 'bokeh', 'sklearn', 'ray', 'jinja2', 'PIL')\n"
        "print(*(m in sys.modules for m in heavy), 'explorer.api' in sys.modules)\n"
        "explorer.build, explorer.similar\n"
        "print('explorer.api' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.splitlines()
    assert before.split() == ["False"] * 9  # nothing heavy, and not even the API yet
    assert after.split() == ["True", "False"]


def test_public_names() -> None:
    assert {"build", "add", "similar", "report", "open_index", "Index"} <= set(explorer.__all__)
    assert set(explorer.__all__) <= set(dir(explorer))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        explorer.nope  # noqa: B018


def test_report_is_a_plain_function_beside_the_page_package() -> None:
    """``explorer.report`` is the API function; the HTML code lives in ``explorer.page``."""
    import explorer.page.render as render
    from explorer import api

    assert render.__name__ == "explorer.page.render"
    assert explorer.report is api.report and callable(explorer.report)


def test_build_similar_add_report_with_str_paths(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder, idx = os.path.relpath(families), "idx"  # plain str paths throughout
    summary = explorer.build(folder, index=idx, backbone="fake", weights="w", write_report=False)
    assert (summary.indexed, summary.images, summary.report) == (12, 12, None)
    assert summary.pca_components == 12 < summary.pca_requested == 300

    index = explorer.open_index(idx)
    assert isinstance(index, explorer.Index) and len(index) == 12
    assert len(explorer.Index(idx)) == 12  # the class takes a str too

    red = os.path.join(folder, "red-0.png")
    (result,) = explorer.similar(red, index=idx, k=3)  # one path, not its characters
    assert result.indexed and [m.rank for m in result.matches] == [1, 2, 3]
    assert all(Path(m.path).name.startswith("red-") for m in result.matches)
    assert red not in {str(m.path) for m in result.matches}  # never itself
    assert all(-1.0 <= m.score <= 1.0 for m in result.matches)

    new = tmp_path / "new-blue.png"
    Image.new("RGB", (64, 64), (40, 60, 210)).save(new)
    added = explorer.add([str(new)], index=idx)
    assert added.indexed == 1 and added.images == 13
    (found,) = explorer.similar(str(new), index=idx, k=4)
    assert all(Path(m.path).name.startswith("blue-") for m in found.matches)

    done = explorer.report(index=idx, out="page.html", clusters=3)
    assert done.images == 13 and done.clusters == 3
    page = Path(done.path).read_text()
    assert "red-0.png" in page and "new-blue.png" in page


def test_build_writes_the_report_where_the_cli_does(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    summary = explorer.build(str(families), backbone="fake", weights="w")  # default ./.explorer
    assert Path(".explorer", "manifest.json").is_file()
    assert summary.report == Path("reports/photos.html") and summary.report.is_file()
    assert summary.clusters >= 1


def test_domain_errors(families: Path, tmp_path: Path, fake_backbone: Loads) -> None:
    with pytest.raises(IndexMissingError):
        explorer.open_index(str(tmp_path / "none"))
    with pytest.raises(UsageError, match="apply to the report"):
        explorer.build(families, index=tmp_path / "i", write_report=False, clusters=3, out="x")
    assert not (tmp_path / "i").exists()  # refused before any work
    idx = tmp_path / "idx"
    explorer.build(families, index=idx, backbone="fake", weights="w", write_report=False)
    with pytest.raises(UsageError, match="k must be >= 1"):
        explorer.similar([families / "red-0.png"], index=idx, k=0)
    with pytest.raises(UsageError, match="clusters must be between 1 and"):
        explorer.report(index=idx, out=tmp_path / "r.html", clusters=50)
