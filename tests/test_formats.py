"""HEIC/HEIF (pillow-heif) and AVIF (Pillow's plugin): decoding, orientation, damage, names.

Every fixture is written at test time with the same libraries that read it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.analysis.knn import exact_neighbor_graph
from explorer.inputs.decode import LoadedImage, load_image
from explorer.inputs.formats import register_formats
from explorer.inputs.scan import IMAGE_EXTENSIONS, scan_folder
from explorer.inputs.skips import Skipped, SkipReason
from explorer.jobs.build import build
from explorer.store.index import Index
from tests.helpers import BLUE, RED, close_to, write

DATA = Path(__file__).parent / "data"
FORMATS = {"HEIF": ".heic", "AVIF": ".avif"}


@pytest.fixture(autouse=True, scope="module")
def _plugins() -> None:
    assert register_formats(), "pillow-heif is a default dependency"


def halves(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """Left half red, right half blue."""
    array = np.zeros((size[1], size[0], 3), np.uint8)
    array[:, : size[0] // 2] = RED
    array[:, size[0] // 2 :] = BLUE
    return Image.fromarray(array)


def encode(im: Image.Image, fmt: str, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    im.save(out, fmt, quality=90, exif=exif.tobytes())
    return out.getvalue()


def loaded(path: Path) -> LoadedImage:
    result = load_image(path)
    assert isinstance(result, LoadedImage), result
    return result


def reason(path: Path) -> SkipReason:
    result = load_image(path)
    assert isinstance(result, Skipped), result
    return result.reason


def test_extensions_cover_phone_formats() -> None:
    assert {".heic", ".heif", ".avif"} <= IMAGE_EXTENSIONS
    assert all(ext == ext.lower() for ext in IMAGE_EXTENSIONS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_decodes_colour_and_size(tmp_path: Path, fmt: str) -> None:
    result = loaded(write(tmp_path / f"a{FORMATS[fmt]}", encode(halves(), fmt)))
    assert (result.width, result.height) == (64, 48)
    assert result.pixels.shape == (224, 224, 3)
    assert close_to(result.pixels[112, 20], RED, 12)
    assert close_to(result.pixels[112, 200], BLUE, 12)
    thumb = Image.open(io.BytesIO(result.thumbnail))
    assert thumb.format == "WEBP" and thumb.size == (64, 48)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exif_orientation_is_honoured(tmp_path: Path, fmt: str) -> None:
    # Orientation 6: shown rotated 90° clockwise, so the red left half ends on top.
    # pillow-heif bakes the rotation into the HEIF transform boxes, Pillow's AVIF
    # writer keeps it in EXIF: either way the decoded image must come out upright.
    result = loaded(write(tmp_path / f"r{FORMATS[fmt]}", encode(halves(), fmt, orientation=6)))
    assert (result.width, result.height) == (48, 64)
    assert close_to(result.pixels[20, 112], RED, 12)
    assert close_to(result.pixels[200, 112], BLUE, 12)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (48, 64)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("where", ["header", "middle", "last bytes"])
def test_truncated_is_truncated(tmp_path: Path, fmt: str, where: str) -> None:
    data = encode(halves((96, 64)), fmt)
    cut = {"header": 40, "middle": len(data) // 2, "last bytes": len(data) - 10}[where]
    assert reason(write(tmp_path / f"cut{FORMATS[fmt]}", data[:cut])) is SkipReason.TRUNCATED


@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_payload_is_decode_error(tmp_path: Path, fmt: str) -> None:
    data = bytearray(encode(halves((96, 64)), fmt))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    assert reason(write(tmp_path / f"bad{FORMATS[fmt]}", bytes(data))) is SkipReason.DECODE_ERROR


def test_text_named_heic_is_not_an_image(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.heic", b"not a photo at all\n")
    assert reason(path) is SkipReason.NOT_AN_IMAGE


def test_upper_case_extensions_are_found(tmp_path: Path) -> None:
    files = {
        "IMG_0001.HEIC": "HEIF",
        "IMG_0002.Heif": "HEIF",
        "export.AVIF": "AVIF",
        "DSC_0003.JPG": "JPEG",
        "scan.PnG": "PNG",
    }
    names = list(files)
    for name, fmt in files.items():
        write(tmp_path / name, encode(halves(), fmt))
    scan = scan_folder(tmp_path)
    assert sorted(c.path.name for c in scan.candidates) == sorted(names)
    assert scan.ignored == 0
    assert all(isinstance(load_image(c.path), LoadedImage) for c in scan.candidates)


def test_without_pillow_heif_heic_is_skipped_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "IMG_0001.HEIC", encode(halves(), "HEIF"))
    code = (
        "import sys; sys.modules['pillow_heif'] = None\n"
        "from explorer.inputs.decode import load_image\n"
        f"r = load_image(__import__('pathlib').Path({str(path)!r}))\n"
        "print(r.reason.value, '|', r.detail)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "not_an_image | HEIC/HEIF needs pillow-heif"


def test_mixed_folder_indexes_all_and_heic_copy_is_a_near_duplicate(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    cat = Image.open(DATA / "skimage" / "chelsea.png").convert("RGB")
    cat.save(photos / "chelsea.jpg", quality=90)
    Image.open(photos / "chelsea.jpg").save(photos / "IMG_0001.HEIC", "HEIF", quality=80)
    Image.open(DATA / "skimage" / "coffee.png").convert("RGB").save(photos / "coffee.avif")
    shutil.copy(DATA / "skimage" / "motorcycle_left.png", photos / "motorcycle.png")
    for path in sorted((DATA / "clipart").glob("*/*.png"))[::10]:
        shutil.copy(path, photos / path.name)
    expected = sorted(p.name for p in photos.iterdir())

    index_path = tmp_path / "index"
    summary = build(photos, index_path=index_path, backbone="pixels")
    assert summary.skipped == {}
    index = Index(index_path)
    paths = [r.path for r in index.records]
    assert sorted(paths) == expected

    neighbors, scores = exact_neighbor_graph(np.asarray(index.vectors), k=1)
    jpg, heic = paths.index("chelsea.jpg"), paths.index("IMG_0001.HEIC")
    assert neighbors[jpg, 0] == heic and neighbors[heic, 0] == jpg
    assert scores[jpg, 0] > 0.95
    others = np.delete(scores[:, 0], [jpg, heic])
    assert scores[jpg, 0] > others.max()
