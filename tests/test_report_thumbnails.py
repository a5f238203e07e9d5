"""Thumbnails in the report: the size budget, re-encoding, placeholders, the sidecar folder."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.errors import ExplorerError
from explorer.page.data import ReportData
from explorer.page.render import write_report
from explorer.page.thumbnails import BYTES_PER_IMAGE, SIDECAR_MARKER, THUMB_BYTES_CAP
from tests.test_report import make_report_data, page_data


@pytest.fixture(scope="module")
def report_data() -> ReportData:
    return make_report_data()


def test_sidecar_mode_above_the_limit(report_data: ReportData, tmp_path: Path) -> None:
    out = write_report(report_data, tmp_path / "my report.html", embed_limit=10)
    folder = tmp_path / "my report_files"
    text = out.read_text(encoding="utf-8")
    assert "data:image/webp" not in text
    files = sorted(p.name for p in folder.iterdir())
    n = len(report_data.paths)
    assert files == sorted([SIDECAR_MARKER] + [f"{i:06d}.webp" for i in range(n)])
    thumbs = page_data(text)["thumbs"]
    assert thumbs == [f"my%20report_files/{i:06d}.webp" for i in range(n)]
    assert (folder / "000003.webp").read_bytes() == report_data.thumbnails[3]
    # Rewriting replaces the folder; going back under the limit removes it.
    (folder / "000003.webp").write_bytes(b"stale")
    write_report(report_data, out, embed_limit=10)
    assert (folder / "000003.webp").read_bytes() == report_data.thumbnails[3]
    write_report(report_data, out)
    assert not folder.exists()
    assert "data:image/webp" in out.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my report.html"]


def test_sidecar_mode_refuses_a_foreign_folder(report_data: ReportData, tmp_path: Path) -> None:
    (tmp_path / "r_files").mkdir()
    (tmp_path / "r_files" / "mine.txt").write_text("keep me")
    with pytest.raises(ExplorerError, match="r_files"):
        write_report(report_data, tmp_path / "r.html", embed_limit=0)
    assert (tmp_path / "r_files" / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "r.html").exists()


def test_size_per_image_within_budget(tmp_path: Path) -> None:
    # noise=12 gives 160 px WebPs of about 2.7 KB, like the photos in data/sample.
    data = make_report_data(n_per_family=30, noise=12.0)
    assert 2000 < np.mean([len(t) for t in data.thumbnails]) < 3500
    small = write_report(make_report_data(n_per_family=10, noise=12.0), tmp_path / "a.html")
    large = write_report(data, tmp_path / "b.html")
    per_image = (large.stat().st_size - small.stat().st_size) / (4 * 20)
    assert per_image <= BYTES_PER_IMAGE, per_image


def test_oversized_thumbnails_are_reencoded_within_budget(tmp_path: Path) -> None:
    data = make_report_data(n_per_family=6, noise=40.0)  # noise does not compress
    assert np.mean([len(t) for t in data.thumbnails]) > THUMB_BYTES_CAP
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    thumbs = page_data(text)["thumbs"]
    assert isinstance(thumbs, list)
    for uri in thumbs:
        assert uri.startswith("data:image/webp;base64,")
        raw = base64.b64decode(uri.split(",", 1)[1])
        assert len(raw) <= THUMB_BYTES_CAP
        with Image.open(io.BytesIO(raw)) as im:
            assert max(im.size) <= 160


def test_unknown_thumbnail_bytes_get_a_placeholder(report_data: ReportData, tmp_path: Path) -> None:
    thumbs = list(report_data.thumbnails)
    thumbs[4] = b"<svg onload=alert(1)>"
    data = ReportData(**{**report_data.__dict__, "thumbnails": thumbs})
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    uri = page_data(text)["thumbs"]
    assert isinstance(uri, list) and uri[4].startswith("data:image/svg+xml;base64,")
    assert "onload=alert" not in text
