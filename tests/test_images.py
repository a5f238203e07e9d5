"""Tests for explorer.inputs (scan, decode): every case of INPUTS.md, made with Pillow."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile
from PIL.JpegImagePlugin import JpegImageFile

from explorer.inputs.decode import MODEL_INPUT_SIZE, THUMBNAIL_SIZE, LoadedImage, load_image
from explorer.inputs.scan import IMAGE_EXTENSIONS, Candidate, Scan, scan_folder, scan_paths
from explorer.inputs.skips import Skipped, SkipReason
from explorer.text import display_path
from tests.helpers import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    bomb_png,
    close_to,
    encode,
    jpeg,
    name_bytes,
    oriented_jpeg,
    png,
    write,
)

# ---------------------------------------------------------------- helpers


def noise(fmt: str, size: tuple[int, int] = (90, 120)) -> bytes:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return encode(Image.fromarray(array), fmt)


def loaded(path: Path, **kwargs: int) -> LoadedImage:
    result = load_image(path, **kwargs)
    assert isinstance(result, LoadedImage), result
    return result


def skipped(path: Path) -> SkipReason:
    result = load_image(path)
    assert isinstance(result, Skipped), result
    assert result.path == path
    return result.reason


def names(scan: Scan) -> list[str]:
    return [c.path.name for c in scan.candidates]


def reasons(scan: Scan) -> dict[str, SkipReason]:
    return {s.path.name: s.reason for s in scan.skipped}


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """Run ``call`` in a daemon thread; fail instead of hanging if it blocks."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for more than {seconds} s"
    return box[0]


# ---------------------------------------------------------------- interface


def test_every_image_extension_is_scanned_in_any_case_and_others_ignored(tmp_path: Path) -> None:
    for ext in IMAGE_EXTENSIONS:
        write(tmp_path / f"lower{ext}", png())
        write(tmp_path / f"UPPER{ext.upper()}", png())
    write(tmp_path / "notes.txt", b"not an image")
    write(tmp_path / "data.json", b"{}")
    scan = scan_folder(tmp_path)
    assert len(scan.candidates) == 2 * len(IMAGE_EXTENSIONS) and scan.ignored == 2
    assert {c.path.suffix.lower() for c in scan.candidates} == IMAGE_EXTENSIONS
    assert scan.skipped == []


def test_default_sizes_are_the_model_input_and_the_thumbnail_side(tmp_path: Path) -> None:
    result = loaded(write(tmp_path / "wide.png", png(RED, (4 * THUMBNAIL_SIZE, THUMBNAIL_SIZE))))
    assert result.pixels.shape == (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (THUMBNAIL_SIZE, THUMBNAIL_SIZE // 4)


def test_the_skip_codes_are_the_ones_the_docs_promise() -> None:
    """Codes are stored in indexes and listed by ``info --skipped``: renaming one breaks both."""
    docs = (Path(__file__).parents[1] / "docs" / "inputs.md").read_text()
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    promised = set(re.findall(r"skip `([a-z_]+)`", docs))
    promised |= set(re.findall(r"`([a-z_]+)`", readme.split("reason code", 1)[1].split(")", 1)[0]))
    assert promised == {r.value for r in SkipReason}


def test_loaded_image_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "a.png", png(RED, (40, 30)))
    result = loaded(path)
    st_ = os.stat(path)
    assert result.path == path
    assert result.pixels.shape == (224, 224, 3)
    assert result.pixels.dtype == np.uint8
    assert close_to(result.pixels[112, 112], RED, 2)
    assert (result.width, result.height) == (40, 30)
    assert (result.size, result.mtime_ns) == (st_.st_size, st_.st_mtime_ns)
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    thumb = Image.open(io.BytesIO(result.thumbnail))
    assert thumb.format == "WEBP"
    assert thumb.size == (40, 30)  # never enlarged
    assert "exif" not in thumb.info and "icc_profile" not in thumb.info


def test_size_parameters(tmp_path: Path) -> None:
    path = write(tmp_path / "a.png", png(GREEN, (600, 300)))
    result = loaded(path, size=32, thumbnail_size=100)
    assert result.pixels.shape == (32, 32, 3)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (100, 50)
    for bad in ({"size": 0}, {"thumbnail_size": 0}, {"thumbnail_size": 20000}):
        with pytest.raises(ValueError):
            load_image(path, **bad)


# ---------------------------------------------------------------- bad content


def test_zero_byte_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.jpg", b"")
    assert skipped(path) is SkipReason.EMPTY_FILE
    assert reasons(scan_folder(tmp_path)) == {"empty.jpg": SkipReason.EMPTY_FILE}


def test_text_and_random_bytes_are_not_images(tmp_path: Path) -> None:
    text = write(tmp_path / "notes.jpg", b"just some text, not a photo\n")
    random = write(tmp_path / "noise.png", np.random.default_rng(1).bytes(4096))
    assert skipped(text) is SkipReason.NOT_AN_IMAGE
    assert skipped(random) is SkipReason.NOT_AN_IMAGE


def test_content_decides_not_extension(tmp_path: Path) -> None:
    assert close_to(loaded(write(tmp_path / "png.jpg", png(RED))).pixels[5, 5], RED, 2)
    assert close_to(loaded(write(tmp_path / "jpeg.png", jpeg(BLUE))).pixels[5, 5], BLUE)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    data = noise(fmt)
    path = write(tmp_path / "cut.img", data[: len(data) // 2])
    assert skipped(path) is SkipReason.TRUNCATED


def test_loader_keeps_pillow_strict_about_truncation() -> None:
    # Importing explorer.inputs.decode (above) must not switch on grey-filling of cut files.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decompression_bomb_is_too_large_and_fast(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb.png", bomb_png())
    start = time.perf_counter()
    result = load_image(path)
    assert isinstance(result, Skipped)
    assert result.reason is SkipReason.TOO_LARGE
    assert time.perf_counter() - start < 2.0


def test_bomb_check_does_not_depend_on_pillow_global(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert skipped(write(tmp_path / "bomb.png", bomb_png())) is SkipReason.TOO_LARGE


def test_large_legal_jpeg(tmp_path: Path) -> None:
    im = Image.new("RGB", (6000, 4000), RED)
    im.paste(BLUE, (3000, 0, 6000, 4000))
    path = write(tmp_path / "big.jpg", encode(im, "JPEG", quality=90))
    result = loaded(path)
    assert (result.width, result.height) == (6000, 4000)
    assert close_to(result.pixels[112, 20], RED)
    assert close_to(result.pixels[112, 200], BLUE)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (160, 107)


def test_large_jpeg_is_decoded_with_draft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real_draft = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> Any:
        assert size is not None
        calls.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    path = write(tmp_path / "big.jpg", encode(Image.new("RGB", (4000, 3000), RED), "JPEG"))
    result = loaded(path, size=100, thumbnail_size=300)
    assert calls and min(calls[0]) >= 300  # never below what model or thumbnail need
    assert (result.width, result.height) == (4000, 3000)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (300, 225)


@pytest.mark.parametrize(("size", "thumb"), [((1, 1), (1, 1)), ((1000, 3), (160, 1))])
def test_tiny_and_thin_images(
    tmp_path: Path, size: tuple[int, int], thumb: tuple[int, int]
) -> None:
    result = loaded(write(tmp_path / "icon.png", png(GREEN, size)))
    assert result.pixels.shape == (224, 224, 3)
    assert close_to(result.pixels[0, 0], GREEN, 2)
    assert (result.width, result.height) == size
    assert Image.open(io.BytesIO(result.thumbnail)).size == thumb


# ---------------------------------------------------------------- modes


def _half_transparent(mode: str) -> Image.Image:
    """Left half opaque dark colour, right half fully transparent (black underneath)."""
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    im.paste((200, 0, 0, 255), (0, 0, 32, 64))
    return im.convert(mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(tmp_path: Path, mode: str) -> None:
    result = loaded(write(tmp_path / f"{mode}.png", encode(_half_transparent(mode), "PNG")))
    assert close_to(result.pixels[112, 200], WHITE, 2)
    expected = (200, 0, 0) if mode == "RGBA" else (60, 60, 60)  # L = 0.299 * 200
    assert close_to(result.pixels[112, 20], expected, 3)


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("P", (64, 64), 0)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (0, 0, 32, 64))
    path = write(tmp_path / "p.png", encode(im, "PNG", transparency=0))
    assert Image.open(path).mode == "P"
    result = loaded(path)
    assert close_to(result.pixels[112, 200], WHITE, 2)  # index 0 was transparent black
    assert close_to(result.pixels[112, 20], BLUE, 2)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cmyk.jpg", encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG")
    )
    assert Image.open(path).mode == "CMYK"
    assert close_to(loaded(path).pixels[112, 112], RED, 8)


def test_grayscale(tmp_path: Path) -> None:
    for mode in ("L", "1"):
        im = Image.new("L", (50, 50), 100 if mode == "L" else 255).convert(mode)
        result = loaded(write(tmp_path / f"{mode}.png", encode(im, "PNG")))
        value = 100 if mode == "L" else 255
        assert close_to(result.pixels[100, 100], (value, value, value), 1)


@pytest.mark.parametrize(("value", "expected"), [(65535, 255), (32768, 128), (0, 0), (257, 1)])
def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path, value: int, expected: int) -> None:
    im = Image.fromarray(np.full((20, 30), value, dtype=np.uint16))
    path = write(tmp_path / "deep.png", encode(im, "PNG"))
    assert Image.open(path).mode == "I;16"
    result = loaded(path)
    assert np.all(result.pixels == expected)


def test_32_bit_and_float_tiff(tmp_path: Path) -> None:
    ints = Image.fromarray(np.full((10, 10), 65535, dtype=np.int32))
    floats = Image.fromarray(np.linspace(0.0, 1.0, 100, dtype=np.float32).reshape(10, 10))
    assert ints.mode == "I" and floats.mode == "F"
    assert np.all(loaded(write(tmp_path / "i.tif", encode(ints, "TIFF"))).pixels == 255)
    pixels = loaded(write(tmp_path / "f.tif", encode(floats, "TIFF"))).pixels
    assert pixels.min() <= 5 and pixels.max() >= 250


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_first_frame(tmp_path: Path, fmt: str) -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    path = write(tmp_path / f"anim.{fmt.lower()}", data)
    assert getattr(Image.open(path), "n_frames", 1) == 3
    assert close_to(loaded(path).pixels[112, 112], RED, 10)


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize(
    ("orientation", "red_at"),
    [(1, (56, 56)), (6, (56, 168)), (8, (168, 56)), (3, (168, 168))],
)
def test_exif_orientation(tmp_path: Path, orientation: int, red_at: tuple[int, int]) -> None:
    result = loaded(write(tmp_path / "o.jpg", oriented_jpeg(orientation)))
    swapped = orientation in (5, 6, 7, 8)
    assert (result.width, result.height) == ((20, 40) if swapped else (40, 20))
    quadrants = [(56, 56), (56, 168), (168, 56), (168, 168)]  # (row, col) centres
    for row, col in quadrants:
        colour = RED if (row, col) == red_at else BLUE
        assert close_to(result.pixels[row, col], colour, 40), (row, col)
    thumb = Image.open(io.BytesIO(result.thumbnail))
    assert thumb.size == (result.width, result.height)
    assert not thumb.getexif()


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_bad_exif_keeps_the_image(tmp_path: Path) -> None:
    data = encode(Image.new("RGB", (30, 20), RED), "JPEG", exif=b"Exif\x00\x00II*\x00garbage!")
    result = loaded(write(tmp_path / "bad_exif.jpg", data))
    assert (result.width, result.height) == (30, 20)
    assert close_to(result.pixels[112, 112], RED, 8)


def test_draft_jpeg_orientation_uses_original_size(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (3000, 2000), GREEN), "JPEG", exif=exif.tobytes())
    result = loaded(write(tmp_path / "big_rot.jpg", data))
    assert (result.width, result.height) == (2000, 3000)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (107, 160)


# ---------------------------------------------------------------- file names


def test_awkward_names_are_indexed(tmp_path: Path) -> None:
    awkward = [
        "UPPER.JPG",
        "Mixed.JpEg",
        "with space & ampersand.png",
        "quote \" and ' < > .png",
        "<img src=x onerror=alert(1)>.jpg",
    ]
    for name in awkward:
        write(tmp_path / name, png(RED))
    scan = scan_folder(tmp_path)
    assert sorted(names(scan)) == sorted(awkward)
    for candidate in scan.candidates:
        assert isinstance(load_image(candidate.path), LoadedImage)


def test_non_utf8_name(tmp_path: Path) -> None:
    raw = b"caf\xe9.jpg"
    path = write(Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), raw))), jpeg(RED))
    [candidate] = scan_folder(tmp_path).candidates
    assert os.fsencode(candidate.path.name) == raw
    assert isinstance(load_image(candidate.path), LoadedImage)
    assert display_path(str(candidate.path)).endswith("caf\ufffd.jpg")
    assert display_path(str(path)).encode("utf-8")  # printable without errors


def test_display_path() -> None:
    assert display_path("plain/ü.jpg") == "plain/ü.jpg"
    assert display_path(os.fsdecode(b"a\xff\xfeb")) == "a\ufffd\ufffdb"
    assert display_path("lone \ud800 surrogate") == "lone \ufffd surrogate"


# ---------------------------------------------------------------- special files


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "gone.jpg"
    link.symlink_to(tmp_path / "missing.jpg")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")
    scan = scan_folder(tmp_path)
    assert reasons(scan) == {"gone.jpg": SkipReason.DANGLING_LINK}
    assert scan.ignored == 1 and scan.candidates == []
    assert skipped(link) is SkipReason.DANGLING_LINK


def test_fifo_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    write(tmp_path / "ok.png", png())
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    scan = within(5.0, lambda: scan_folder(tmp_path))
    assert str(fifo) not in opened
    assert reasons(scan) == {"pipe.jpg": SkipReason.NOT_REGULAR_FILE}
    assert names(scan) == ["ok.png"]
    # Even when a FIFO is raced in after the scan, loading it does not block.
    result = within(5.0, lambda: load_image(fifo))
    assert isinstance(result, Skipped) and result.reason is SkipReason.NOT_REGULAR_FILE


def test_socket_and_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # AF_UNIX paths are limited to ~100 bytes
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind("sock.png")
        (tmp_path / "null.jpg").symlink_to(os.devnull)
        scan = scan_folder(tmp_path)
        assert reasons(scan) == {
            "null.jpg": SkipReason.NOT_REGULAR_FILE,
            "sock.png": SkipReason.NOT_REGULAR_FILE,
        }
        assert skipped(tmp_path / "sock.png") is SkipReason.NOT_REGULAR_FILE
        assert skipped(tmp_path / "null.jpg") is SkipReason.NOT_REGULAR_FILE
    finally:
        server.close()


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "secret.png", png())
    real_access, real_open = os.access, os.open

    def no_access(p: Any, mode: int, **kwargs: Any) -> bool:
        return False if os.fspath(p) == str(path) else real_access(p, mode, **kwargs)

    def no_open(p: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(p) == str(path):
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *args, **kwargs)

    monkeypatch.setattr(os, "access", no_access)
    monkeypatch.setattr(os, "open", no_open)
    assert reasons(scan_folder(tmp_path)) == {"secret.png": SkipReason.UNREADABLE_FILE}
    assert skipped(path) is SkipReason.UNREADABLE_FILE


def test_unlistable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    write(locked / "a.png", png())
    write(tmp_path / "b.png", png())
    real_scandir = os.scandir

    def refuse(p: Any) -> Any:
        if os.fspath(p) == str(locked):
            raise PermissionError(13, "Permission denied", str(p))
        return real_scandir(p)

    monkeypatch.setattr(os, "scandir", refuse)
    scan = scan_folder(tmp_path)
    assert names(scan) == ["b.png"]
    assert reasons(scan) == {"locked": SkipReason.UNREADABLE_FILE}


def test_vanished_between_listing_and_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "flaky.png", png())
    write(tmp_path / "stays.png", png())
    real_lstat = os.lstat

    def gone(p: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(p) == str(path):
            raise FileNotFoundError(2, "No such file or directory", str(p))
        return real_lstat(p, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", gone)
    scan = scan_folder(tmp_path)
    assert names(scan) == ["stays.png"]
    assert reasons(scan) == {"flaky.png": SkipReason.VANISHED}


def test_vanished_between_scan_and_load(tmp_path: Path) -> None:
    write(tmp_path / "soon_gone.jpg", jpeg())
    [candidate] = scan_folder(tmp_path).candidates
    candidate.path.unlink()
    assert skipped(candidate.path) is SkipReason.VANISHED


def test_file_changed_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "growing.png", png())
    real_fstat = os.fstat

    def stale(fd: int) -> os.stat_result:
        st_ = real_fstat(fd)
        values = list(st_)
        values[6] = st_.st_size - 10  # st_size as it was a moment ago
        return os.stat_result(values)

    monkeypatch.setattr(os, "fstat", stale)
    assert skipped(path) is SkipReason.VANISHED


# ---------------------------------------------------------------- walking


def test_walk_rules(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    write(root / "a.jpg", jpeg())
    write(root / "sub" / "deeper" / "b.png", png())
    write(root / ".hidden.jpg", jpeg())
    write(root / ".cache" / "c.jpg", jpeg())
    write(root / "index" / "d.png", png())
    write(root / "notes.txt", b"text")
    write(root / "meta.json", b"{}")
    write(root / "sub" / "noext", b"x")
    scan = scan_folder(root, exclude=[root / "index"])
    assert [c.path for c in scan.candidates] == [root / "a.jpg", root / "sub/deeper/b.png"]
    assert scan.skipped == []
    assert scan.ignored == 3
    for candidate in scan.candidates:
        st_ = os.stat(candidate.path)
        assert candidate == Candidate(candidate.path, st_.st_size, st_.st_mtime_ns)


def test_exclude_through_a_symlink(tmp_path: Path) -> None:
    write(tmp_path / "index" / "d.png", png())
    write(tmp_path / "keep.png", png())
    (tmp_path / "alias").symlink_to(tmp_path / "index")
    assert names(scan_folder(tmp_path, exclude=[tmp_path / "index"])) == ["keep.png"]


def test_symlink_loop_terminates(tmp_path: Path) -> None:
    write(tmp_path / "a" / "one.png", png())
    write(tmp_path / "two.png", png())
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "a" / "self").symlink_to(".")
    (tmp_path / "0_link_to_a").symlink_to(tmp_path / "a")  # sorts before "a"
    scan = within(10.0, lambda: scan_folder(tmp_path))
    # each real folder once, and under its real path when it has one
    assert [c.path for c in scan.candidates] == [tmp_path / "a/one.png", tmp_path / "two.png"]


def test_directory_symlink_outside_root_is_followed(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "x.png", png())
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "linked").symlink_to(tmp_path / "elsewhere")
    assert [c.path for c in scan_folder(tmp_path / "root").candidates] == [
        tmp_path / "root/linked/x.png"
    ]


def test_file_symlink_listed_under_link_path(tmp_path: Path) -> None:
    target = write(tmp_path / "store" / "real.png", png())
    (tmp_path / "root").mkdir()
    link = tmp_path / "root" / "link.png"
    link.symlink_to(target)
    [candidate] = scan_folder(tmp_path / "root").candidates
    assert candidate.path == link and candidate.size == target.stat().st_size
    assert loaded(link).path == link


def test_hard_links_and_copies_listed_twice(tmp_path: Path) -> None:
    first = write(tmp_path / "first.jpg", jpeg())
    os.link(first, tmp_path / "second.jpg")
    write(tmp_path / "third.jpg", first.read_bytes())
    scan = scan_folder(tmp_path)
    assert names(scan) == ["first.jpg", "second.jpg", "third.jpg"]
    assert len({loaded(c.path).sha256 for c in scan.candidates}) == 1


def test_relative_root_gives_absolute_unresolved_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "real" / "a.png", png())
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    [candidate] = scan_folder(Path("alias")).candidates
    assert candidate.path.is_absolute()
    assert candidate.path == Path(os.getcwd()) / "alias" / "a.png"


def test_scan_paths_mixes_files_and_folders(tmp_path: Path) -> None:
    write(tmp_path / "dir" / "a.png", png())
    given = write(tmp_path / "b.jpg", jpeg())
    hidden = write(tmp_path / ".c.png", png())
    text = write(tmp_path / "d.txt", b"text")
    scan = scan_paths(
        [tmp_path / "dir", given, hidden, text, tmp_path / "missing.png", given],
        exclude=[],
    )
    assert names(scan) == [".c.png", "b.jpg", "a.png"]  # hidden is fine when named
    assert scan.ignored == 1
    assert reasons(scan) == {"missing.png": SkipReason.VANISHED}


def test_candidates_sorted_by_path_bytes(tmp_path: Path) -> None:
    for name in ["b.png", "B.png", "a/z.png", "a b.png", "é.png", "Z.png"]:
        write(tmp_path / name, png())
    paths = [c.path for c in scan_folder(tmp_path).candidates]
    assert paths == sorted(paths, key=lambda p: os.fsencode(p))
    assert len(paths) == 6


# ---------------------------------------------------------------- robustness


def test_unexpected_exception_becomes_decode_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.png", png())

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("plugin bug")

    monkeypatch.setattr(Image.Image, "resize", explode)
    result = load_image(path)
    assert isinstance(result, Skipped) and result.reason is SkipReason.DECODE_ERROR
    assert "plugin bug" in result.detail


@pytest.mark.parametrize("error", [MemoryError, KeyboardInterrupt])
def test_memory_error_and_interrupt_propagate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    path = write(tmp_path / "a.png", png())

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise error()

    monkeypatch.setattr(Image, "open", explode)
    with pytest.raises(error):
        load_image(path)


_VALID = {"JPEG": noise("JPEG"), "PNG": noise("PNG")}
_KNOWN = set(SkipReason)


def _check(result: LoadedImage | Skipped) -> None:
    if isinstance(result, LoadedImage):
        assert result.pixels.shape == (224, 224, 3) and result.pixels.dtype == np.uint8
        assert result.thumbnail[:4] == b"RIFF"
    else:
        assert result.reason in _KNOWN


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(sorted(_VALID)), cut=st.floats(0.0, 1.0))
def test_any_truncation_is_handled(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, cut: float
) -> None:
    data = _VALID[fmt]
    keep = int(len(data) * cut)
    path = write(tmp_path_factory.mktemp("cut") / "x.png", data[:keep])
    result = load_image(path)
    _check(result)
    if isinstance(result, Skipped):  # a prefix is never "some other" decode failure
        assert result.reason in {
            SkipReason.EMPTY_FILE,
            SkipReason.NOT_AN_IMAGE,
            SkipReason.TRUNCATED,
        }
    elif keep < len(data):  # only the trailer may be missing from a decodable prefix
        assert keep >= len(data) - 24  # PNG: adler32, IDAT CRC and IEND


@settings(max_examples=80, deadline=None)
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_raise(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    _check(load_image(write(tmp_path_factory.mktemp("rnd") / "x.jpg", data)))


@settings(max_examples=50, deadline=None)
@given(data=st.binary(min_size=1, max_size=512), at=st.integers(0, 10_000))
def test_corrupted_valid_file_never_raises(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, at: int
) -> None:
    valid = _VALID["PNG" if at % 2 else "JPEG"]
    at %= len(valid)
    mutated = valid[:at] + data + valid[at + len(data) :]
    _check(load_image(write(tmp_path_factory.mktemp("mut") / "x.jpg", mutated)))


_NAME_BYTES = name_bytes(100)


@settings(max_examples=60, deadline=None)
@given(stem=_NAME_BYTES)
def test_any_byte_name_round_trips(tmp_path_factory: pytest.TempPathFactory, stem: bytes) -> None:
    name = stem + b".png"
    folder = tmp_path_factory.mktemp("names")
    with open(os.path.join(os.fsencode(folder), name), "wb") as file:
        file.write(png(GREEN, (2, 2)))
    scan = scan_folder(folder)
    [candidate] = scan.candidates
    assert os.fsencode(candidate.path.name) == name
    assert isinstance(load_image(candidate.path), LoadedImage)
    shown = display_path(candidate.path.name)
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in shown)  # one line, no escapes
    text = name.decode("utf-8", "replace")
    if "\ufffd" not in shown and shown == display_path(text) and text.isprintable():
        assert shown == text


@pytest.mark.parametrize("size", [(2000, 1400), (1500, 700), (700, 2100), (225, 300)])
def test_shared_reduction_keeps_model_input_identical(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    # The model input and the thumbnail share one box reduction; the model input
    # must stay exactly what Lanczos with reducing_gap=3 gives, so features are unchanged.
    rng = np.random.default_rng(size[0])
    array = rng.integers(0, 256, (size[1] // 10, size[0] // 10, 3), dtype=np.uint8)
    im = Image.fromarray(array).resize(size, Image.Resampling.BILINEAR)
    im.putalpha(200)  # transparency: the composite on white happens first
    path = write(tmp_path / "big.png", encode(im, "PNG", compress_level=1))
    result = loaded(path)
    rgb = Image.new("RGB", size, WHITE)
    rgb.paste(im, (0, 0), im)
    direct = np.array(rgb.resize((224, 224), Image.Resampling.LANCZOS, reducing_gap=3.0))
    assert np.array_equal(result.pixels, direct)
    reference = Image.new("RGBA", size, (*WHITE, 255))
    reference.alpha_composite(im)
    assert np.array_equal(np.asarray(rgb), np.asarray(reference.convert("RGB")))
    thumb = Image.open(io.BytesIO(result.thumbnail))
    assert max(thumb.size) == THUMBNAIL_SIZE
    assert abs(thumb.width / thumb.height - size[0] / size[1]) < 0.02
