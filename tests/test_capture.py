"""Capture facts: EXIF date (mtime fallback), camera, GPS presence but never coordinates."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from explorer.analysis.keepers import keeper_key
from explorer.cli import app
from explorer.inputs.capture import (
    Capture,
    capture_from_exif,
    describe,
    facets,
    read_capture,
    read_location,
    summarise,
)
from explorer.inputs.decode import LoadedImage, load_image
from explorer.inputs.formats import register_formats
from explorer.jobs.build import build
from explorer.store import commit as index_module
from explorer.store.index import Index
from explorer.store.records import ImageRecord

runner = CliRunner()
NEW_FIELDS = {"taken", "taken_source", "camera", "has_gps"}
LAT, LON = (37.0, 48.0, 30.125), (122.0, 25.0, 9.875)  # 37.808368 N, 122.419410 W
LAT_TEXT, LON_TEXT = "37.808368", "122.41941"


def exif(
    *,
    date: str | None = "2019:07:14 18:30:05",
    offset: str | None = None,
    make: str | None = "Canon",
    model: str | None = "Canon EOS 5D",
    gps: bool = False,
    orientation: int | None = None,
) -> Image.Exif:
    out = Image.Exif()
    if make is not None:
        out[0x010F] = make
    if model is not None:
        out[0x0110] = model
    if orientation is not None:
        out[0x0112] = orientation
    ifd = out.get_ifd(0x8769)
    if date is not None:
        ifd[0x9003] = date
    if offset is not None:
        ifd[0x9011] = offset
    if gps:
        g = out.get_ifd(0x8825)
        g.update({1: "N", 2: LAT, 3: "W", 4: LON})
    return out


def photo(path: Path, colour: tuple[int, int, int], fmt: str = "JPEG", **tags: Any) -> Path:
    im = Image.new("RGB", (64, 48), colour)
    im.paste((255, 255, 255), (8, 8, 24, 24))
    tagged = tags.pop("tagged", True)
    im.save(path, fmt, exif=exif(**tags) if tagged else b"")
    return path


def local_iso(mtime_ns: int) -> str:
    return dt.datetime.fromtimestamp(mtime_ns / 1e9).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------- reading EXIF


def test_date_camera_and_gps_from_exif() -> None:
    c = capture_from_exif(exif(offset="+02:00", gps=True), mtime_ns=0)
    assert c == Capture("2019-07-14T18:30:05+02:00", "exif", "Canon EOS 5D", True)


def test_make_joins_a_model_that_does_not_name_it() -> None:
    assert capture_from_exif(exif(make="Apple", model="iPhone 12"), mtime_ns=0).camera == (
        "Apple iPhone 12"
    )
    assert capture_from_exif(exif(make="NIKON CORPORATION", model="NIKON D750"), mtime_ns=0).camera
    assert capture_from_exif(exif(make=None, model=None), mtime_ns=0).camera is None
    padded = capture_from_exif(exif(make="  SONY\x00", model="ILCE-7M3\x00\x00"), mtime_ns=0)
    assert padded.camera == "SONY ILCE-7M3"


BAD_DATES = [None, "", "0000:00:00 00:00:00", "not a date", "2019:13:40 25:00"]


@pytest.mark.parametrize("date", BAD_DATES)
def test_missing_or_bad_date_falls_back_to_mtime(date: str | None) -> None:
    mtime_ns = 1_600_000_000 * 10**9
    c = capture_from_exif(exif(date=date), mtime_ns=mtime_ns)
    assert c.taken_source == "mtime"
    assert c.taken == local_iso(mtime_ns)
    assert c.camera == "Canon EOS 5D"  # the camera is kept even without a date


def test_digitized_date_when_original_is_missing() -> None:
    tags = exif(date=None)
    tags.get_ifd(0x8769)[0x9004] = "2020:01:02 03:04:05"
    assert capture_from_exif(tags, mtime_ns=0).taken == "2020-01-02T03:04:05"


def test_no_exif_and_bad_offset() -> None:
    assert capture_from_exif(None, mtime_ns=0).taken_source == "mtime"
    c = capture_from_exif(exif(offset="+99:99"), mtime_ns=0)
    assert c.taken == "2019-07-14T18:30:05"


def test_load_image_reads_capture_from_the_same_exif(tmp_path: Path) -> None:
    path = photo(tmp_path / "a.jpg", (200, 30, 30), gps=True, orientation=6)
    result = load_image(path)
    assert isinstance(result, LoadedImage)
    assert (result.width, result.height) == (48, 64)  # oriented size: the pixel size kept
    assert result.capture == read_capture(path, mtime_ns=result.mtime_ns)
    assert result.capture == Capture("2019-07-14T18:30:05", "exif", "Canon EOS 5D", True)
    plain = load_image(photo(tmp_path / "b.png", (30, 30, 200), "PNG", tagged=False))
    assert isinstance(plain, LoadedImage)
    assert plain.capture == Capture(local_iso(plain.mtime_ns), "mtime", None, False)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_carry_exif(tmp_path: Path, fmt: str) -> None:
    assert register_formats()
    path = photo(tmp_path / f"IMG.{fmt}", (20, 160, 60), fmt, make="Apple", model="iPhone 12")
    result = load_image(path)
    assert isinstance(result, LoadedImage)
    assert result.capture.taken == "2019-07-14T18:30:05"
    assert result.capture.camera == "Apple iPhone 12"


def test_read_location_and_unreadable_files(tmp_path: Path) -> None:
    assert read_location(photo(tmp_path / "g.jpg", (1, 2, 3), gps=True)) == (
        float(LAT_TEXT),
        -float(LON_TEXT),
    )
    assert read_location(photo(tmp_path / "n.jpg", (1, 2, 3))) is None
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    assert read_location(junk) is None
    assert read_capture(junk, mtime_ns=0).taken_source == "mtime"


def test_summary_and_keeper_tie_breaks() -> None:
    base = ImageRecord("a.jpg", 1000, 5, "x", 64, 48)
    later = dataclasses.replace(base, path="b.jpg", taken="2021-01-01T00:00:00")
    later = dataclasses.replace(later, taken_source="exif", camera="Apple iPhone 12")
    earlier = dataclasses.replace(later, path="c.jpg", taken="2020-06-01T00:00:00", mtime_ns=9)
    resaved = dataclasses.replace(base, path="d.jpg", taken="2000-01-01T00:00:00")
    resaved = dataclasses.replace(resaved, taken_source="mtime", mtime_ns=1, has_gps=True)
    order = sorted([base, later, earlier, resaved], key=keeper_key)
    assert [r.path for r in order] == ["c.jpg", "b.jpg", "d.jpg", "a.jpg"]
    bigger = dataclasses.replace(base, path="e.jpg", size=2000)
    assert sorted([earlier, bigger], key=keeper_key)[0] is bigger  # size still comes first
    s = summarise([base, later, earlier, resaved])
    assert (s.first, s.last) == ("2000-01-01T00:00:00", "2021-01-01T00:00:00")
    assert (s.from_exif, s.from_mtime, s.unknown, s.with_gps) == (2, 1, 1, 1)
    assert s.cameras == [("Apple iPhone 12", 2)]


# ---------------------------------------------------------------- through the index


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    photo(root / "canon.jpg", (200, 30, 30), offset="+02:00")
    photo(root / "phone.jpg", (30, 200, 30), make="Apple", model="iPhone 12", gps=True)
    photo(root / "scan.png", (30, 30, 200), "PNG", tagged=False)
    return root


def _export(index: Path, *extra: str) -> dict[str, dict[str, str]]:
    out = runner.invoke(app, ["export", "--csv", "--index", str(index), *extra])
    assert out.exit_code == 0, out.output
    return {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(out.stdout))}


def test_export_and_info_show_capture_facts(folder: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(folder, index_path=index, backbone="pixels")
    rows = _export(index)
    assert rows["canon.jpg"]["taken"] == "2019-07-14T18:30:05+02:00"
    assert rows["canon.jpg"]["taken_source"] == "exif"
    assert rows["canon.jpg"]["camera"] == "Canon EOS 5D"
    assert (rows["canon.jpg"]["width"], rows["canon.jpg"]["height"]) == ("64", "48")
    assert rows["phone.jpg"]["camera"] == "Apple iPhone 12"
    mtime = os.stat(folder / "scan.png").st_mtime_ns
    assert rows["scan.png"]["taken"] == local_iso(mtime)
    assert rows["scan.png"]["taken_source"] == "mtime" and rows["scan.png"]["camera"] == ""
    out = runner.invoke(app, ["info", "--index", str(index)])
    assert out.exit_code == 0, out.output
    assert "2019-07-14 to " in out.stdout and "(2 from EXIF, 1 from file dates)" in out.stdout
    assert "Apple iPhone 12 (1)" in out.stdout and "Canon EOS 5D (1)" in out.stdout
    data = json.loads(runner.invoke(app, ["info", "--json", "--index", str(index)]).stdout)
    assert data["capture"]["from_exif"] == 2 and data["capture"]["with_gps"] == 1


def test_gps_coordinates_are_never_kept_unless_asked(folder: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    report = tmp_path / "report.html"
    out = runner.invoke(
        app,
        ["build", str(folder), "--index", str(index), "--backbone", "pixels", "--out", str(report)],
    )
    assert out.exit_code == 0, out.output
    rows = _export(index)
    assert rows["phone.jpg"]["has_gps"] == "1" and rows["canon.jpg"]["has_gps"] == "0"
    assert "latitude" not in rows["phone.jpg"] and "longitude" not in rows["phone.jpg"]
    json_rows = json.loads(runner.invoke(app, ["export", "--json", "--index", str(index)]).stdout)
    assert all("latitude" not in r for r in json_rows)
    # nothing the tool wrote holds the coordinates: not the index, not the report
    written = [p for p in index.rglob("*") if p.is_file()] + [report]
    for path in written:
        blob = path.read_bytes()
        for needle in (LAT_TEXT, LON_TEXT, LAT_TEXT[:6], LON_TEXT[:7]):
            assert needle.encode() not in blob, (path.name, needle)
    asked = _export(index, "--gps")
    assert (asked["phone.jpg"]["latitude"], asked["phone.jpg"]["longitude"]) == (
        LAT_TEXT,
        "-" + LON_TEXT,
    )
    assert asked["canon.jpg"]["latitude"] == "" and asked["scan.png"]["longitude"] == ""


def test_old_index_opens_and_gains_capture_on_next_build(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"

    def old_asdict(record: Any) -> dict[str, Any]:  # the records an older explorer wrote
        return {k: v for k, v in dataclasses.asdict(record).items() if k not in NEW_FIELDS}

    with monkeypatch.context() as m:
        m.setattr(index_module, "asdict", old_asdict)
        m.setattr("explorer.store.rows.with_capture", lambda record, capture: record)
        build(folder, index_path=index, backbone="pixels")
    images = index / Index(index)._name("images")
    assert not NEW_FIELDS & set(json.loads(images.read_bytes())["records"][0])
    old = Index(index)
    assert all(r.taken_source is None and r.camera is None for r in old.records)
    out = runner.invoke(app, ["info", "--index", str(index)])
    assert out.exit_code == 0 and "3 not read yet" in out.stdout, out.output
    assert _export(index)["canon.jpg"]["taken"] == ""
    features = old.features.copy()

    summary = build(folder, index_path=index, backbone="pixels")
    assert (summary.indexed, summary.updated, summary.unchanged) == (0, 0, 3)
    assert summary.model_load_seconds == 0.0  # no feature was extracted again
    new = Index(index)
    assert (new.features == features).all()
    rows = _export(index)
    assert rows["canon.jpg"]["camera"] == "Canon EOS 5D"
    assert rows["phone.jpg"]["has_gps"] == "1"
    assert rows["scan.png"]["taken_source"] == "mtime"
    again = build(folder, index_path=index, backbone="pixels")
    assert again.unchanged == 3 and Index(index).manifest["updated"] == new.manifest["updated"]


def test_touched_file_dated_by_mtime_gets_the_new_date(folder: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(folder, index_path=index, backbone="pixels")
    later = 1_700_000_000 * 10**9
    os.utime(folder / "scan.png", ns=(later, later))
    os.utime(folder / "canon.jpg", ns=(later, later))
    summary = build(folder, index_path=index, backbone="pixels")
    assert summary.unchanged == 3
    rows = _export(index)
    assert rows["scan.png"]["taken"] == local_iso(later)
    assert rows["canon.jpg"]["taken"] == "2019-07-14T18:30:05+02:00"


# ---------------------------------------------------------------- the report


def test_describe_says_where_a_date_came_from() -> None:
    r = ImageRecord("a.jpg", 1, 1, "x", 4032, 3024, "2019-07-14T18:30:05+02:00", "exif", "Canon")
    assert describe(r) == "2019-07-14 18:30 · Canon · 4032×3024"
    m = dataclasses.replace(r, taken_source="mtime", camera=None)
    assert describe(m) == "2019-07-14 18:30 (file date) · 4032×3024"
    assert describe(ImageRecord("b.png", 1, 1, "x", 5, 6)) == "5×6"


def test_report_captions_are_escaped_and_never_a_location(tmp_path: Path) -> None:
    from explorer.page.render import write_report
    from tests.test_report import HOSTILE, HOSTILE_RAW, make_report_data, page_data

    data = make_report_data(n_per_family=3)
    n = len(data.paths)
    captions = [f"2019-07-14 18:30 · {HOSTILE}" if i == 1 else f"{i}×{i}" for i in range(n)]
    text = write_report(dataclasses.replace(data, captions=captions), tmp_path / "r.html")
    html = text.read_text(encoding="utf-8")
    assert HOSTILE_RAW not in html
    assert page_data(html)["captions"] == captions
    with pytest.raises(ValueError, match="captions"):
        write_report(dataclasses.replace(data, captions=captions[:-1]), tmp_path / "s.html")


def test_report_facets_payload() -> None:
    from explorer.page.payload import _facet_payload

    payload = _facet_payload({"Year taken": ["2019", None, "2019", "2021"], "Camera": [None] * 4})
    assert payload == [
        {
            "name": "Year taken",
            "values": [{"name": "2019", "m": [0, 2]}, {"name": "2021", "m": [3]}],
        }
    ]
    assert _facet_payload({"Year taken": ["2026"] * 3}) == []  # one value for all: no use
    records = [
        ImageRecord("a.jpg", 1, 1, "x", 5, 6, "2019-07-14T18:30:05", "exif", "Canon"),
        ImageRecord("b.png", 1, 1, "x", 5, 6, "2026-01-01T00:00:00", "mtime"),
    ]
    assert facets(records) == {
        "Year taken": ["2019", "2026 (file date)"],
        "Camera": ["Canon", None],
    }


@pytest.mark.slow
def test_report_colours_by_camera_and_pins_a_caption(tmp_path: Path) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from explorer.page.render import write_report
    from tests.test_report import HOSTILE, make_report_data

    data = make_report_data(n_per_family=3)
    n = len(data.paths)
    cameras = [HOSTILE if i % 3 == 0 else None for i in range(n)]
    years = ["2019" if i < 4 else "2021" for i in range(n)]
    captions = [f"caption {i}" for i in range(n)]
    data = dataclasses.replace(
        data, captions=captions, facets={"Year taken": years, "Camera": cameras}
    )
    out = write_report(data, tmp_path / "r.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.as_uri())
        page.wait_for_function("() => window.ExplorerApp && ExplorerApp.state.fig")
        groups = page.evaluate(
            "() => [...document.querySelectorAll('#color-by optgroup')]"
            ".map(g => [g.label, [...g.children].map(o => o.title)])"
        )
        assert ["Year taken", ["2019", "2021"]] in groups and ["Camera", [HOSTILE]] in groups
        value = page.evaluate(
            "h => [...document.querySelectorAll('#color-by option')]"
            ".find(o => o.title === h).value",
            HOSTILE,
        )
        page.select_option("#color-by", value)
        shown = page.evaluate("() => ExplorerApp.state.tagSrc.data.x.length")
        assert shown == sum(c is not None for c in cameras)
        page.evaluate("() => ExplorerApp.pin(4)")
        text = page.evaluate("() => document.querySelector('.pin-capture').textContent")
        assert text == "caption 4"
        assert not page.query_selector("img[src=x]")  # the hostile camera name stayed text
        browser.close()
    assert errors == []
