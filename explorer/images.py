"""Find image files and decode one file into model pixels and a thumbnail.

A photo folder is hostile input (see ``INPUTS.md``): nothing here raises for a
bad file. Scanning classifies every entry with ``lstat``/``stat`` and never
opens one; decoding returns a :class:`Skipped` with a reason code for any
file it cannot turn into an image. Only ``KeyboardInterrupt`` and
``MemoryError`` get through.
"""

from __future__ import annotations

import enum
import hashlib
import io
import logging
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MODEL_INPUT_SIZE",
    "THUMBNAIL_SIZE",
    "Candidate",
    "LoadedImage",
    "Scan",
    "SkipReason",
    "Skipped",
    "display_path",
    "load_image",
    "scan_folder",
    "scan_paths",
]

logger = logging.getLogger(__name__)

MODEL_INPUT_SIZE = 224
THUMBNAIL_SIZE = 160
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
)

# Pillow's own limit (2 x MAX_IMAGE_PIXELS), enforced here too so that a library
# setting ``Image.MAX_IMAGE_PIXELS = None`` cannot switch the check off.
_MAX_PIXELS = 2 * 89_478_485
# Read whole files into memory only up to this size; larger ones are skipped.
_MAX_FILE_BYTES = 1 << 30
_THUMBNAIL_QUALITY = 70
_WHITE = (255, 255, 255)
# EXIF orientation -> transposition that makes the image upright.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# (signature, last bytes of a complete file) for formats that have an end marker.
_END_MARKERS = (
    (b"\xff\xd8\xff", b"\xff\xd9"),
    (b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"),
    (b"GIF8", b";"),
)
_SURROGATE = re.compile("[\ud800-\udfff]")


class SkipReason(str, enum.Enum):
    """Why a file was not indexed; the value is the stable code stored in the index."""

    EMPTY_FILE = "empty_file"
    NOT_AN_IMAGE = "not_an_image"
    TRUNCATED = "truncated"
    DECODE_ERROR = "decode_error"
    TOO_LARGE = "too_large"
    DANGLING_LINK = "dangling_link"
    UNREADABLE_FILE = "unreadable_file"
    NOT_REGULAR_FILE = "not_regular_file"
    VANISHED = "vanished"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was found but not indexed."""

    path: Path
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A regular, non-empty file with an image extension, as seen by the scan."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Scan:
    """Result of :func:`scan_paths`: what to decode, what was skipped, how much was ignored."""

    candidates: list[Candidate]
    skipped: list[Skipped]
    ignored: int


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """One decoded image: model input, thumbnail and the facts that identify the file."""

    path: Path
    pixels: NDArray[np.uint8]
    thumbnail: bytes
    width: int
    height: int
    size: int
    mtime_ns: int
    sha256: str
    sharpness: float | None = None


class _Skip(Exception):
    """Internal: carries a skip reason out of the decoding steps."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def display_path(text: str) -> str:
    """Make a path string safe to show to people.

    Args:
        text: A path as text; non-UTF-8 bytes appear as lone surrogates (surrogateescape).

    Returns:
        The same text with every undecodable byte replaced by U+FFFD.
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # lone surrogates that did not come from surrogateescape
        return _SURROGATE.sub("\ufffd", text)


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


class _Walker:
    """State of one scan: results so far, directories already walked, exclusions."""

    def __init__(self, exclude: Iterable[Path]) -> None:
        self.found: dict[str, Candidate] = {}
        self.skipped: dict[str, Skipped] = {}
        self.ignored = 0
        self.seen_dirs: set[tuple[int, int]] = set()
        self.excluded = [os.path.abspath(p).rstrip(os.sep) for p in exclude]
        self.excluded_ids = {_dir_id(p) for p in self.excluded} - {None}

    def skip(self, path: str, reason: SkipReason, detail: str = "") -> None:
        self.skipped.setdefault(path, Skipped(Path(path), reason, detail))

    def visit(self, path: str, *, top: bool) -> tuple[str, bool] | None:
        """Classify one path; return ``(path, is_link)`` when it is a folder to walk."""
        name = os.path.basename(path)
        if (not top and name.startswith(".")) or any(
            path == ex or path.startswith(ex + os.sep) for ex in self.excluded
        ):
            return None
        image = _is_image_name(name)
        try:
            lst = os.lstat(path)
        except (OSError, ValueError) as exc:  # gone since listing, never there, NUL in name
            if image or top:
                missing = isinstance(exc, FileNotFoundError)
                reason = SkipReason.VANISHED if missing else SkipReason.UNREADABLE_FILE
                self.skip(path, reason, _describe(exc))
            return None
        st = lst
        if stat.S_ISLNK(lst.st_mode):
            try:
                st = os.stat(path)
            except OSError as exc:  # a link to nothing, or a loop of links
                if image:
                    self.skip(path, SkipReason.DANGLING_LINK, _describe(exc))
                else:
                    self.ignored += 1
                return None
        if stat.S_ISDIR(st.st_mode):
            return (path, stat.S_ISLNK(lst.st_mode))
        if not image:
            self.ignored += 1
        elif not stat.S_ISREG(st.st_mode):
            self.skip(path, SkipReason.NOT_REGULAR_FILE, stat.filemode(st.st_mode))
        elif st.st_size == 0:
            self.skip(path, SkipReason.EMPTY_FILE)
        elif not os.access(path, os.R_OK):
            self.skip(path, SkipReason.UNREADABLE_FILE, "permission denied")
        else:
            self.found.setdefault(path, Candidate(Path(path), st.st_size, st.st_mtime_ns))
        return None

    def walk(self, tops: list[str]) -> None:
        """Walk folders depth-first, real directories before symlinked ones, each once.

        Symlinked folders wait until no real one is left, so a file is listed
        under its real path when it has one inside the scanned tree.
        """
        real = list(reversed(tops))
        linked: list[str] = []
        while real or linked:
            folder = real.pop() if real else linked.pop(0)
            key = _dir_id(folder)
            if key is None or key in self.seen_dirs or key in self.excluded_ids:
                continue
            self.seen_dirs.add(key)
            try:
                with os.scandir(folder) as entries:
                    names = sorted((entry.name for entry in entries), key=os.fsencode)
            except OSError as exc:
                reason = SkipReason.VANISHED
                if not isinstance(exc, FileNotFoundError):
                    reason = SkipReason.UNREADABLE_FILE
                self.skip(folder, reason, _describe(exc))
                continue
            subdirs: list[str] = []
            for name in names:
                found = self.visit(os.path.join(folder, name), top=False)
                if found is not None:
                    (linked if found[1] else subdirs).append(found[0])
            real.extend(reversed(subdirs))


def _dir_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def scan_paths(paths: Sequence[Path], *, exclude: Iterable[Path] = ()) -> Scan:
    """Find candidate image files under the given paths without opening any of them.

    Files given directly are taken if their extension is an image one, otherwise
    counted as ignored; folders are walked recursively. Inside folders, hidden
    entries (name starting with ``.``) are ignored; anything under ``exclude``
    is ignored everywhere. Directory symlinks are followed and each real
    directory is walked once; file symlinks are listed under their link path.
    A given path that does not exist is reported as ``VANISHED``.

    Args:
        paths: Files and folders to scan.
        exclude: Paths whose contents are never listed (the index's own folder).

    Returns:
        Candidates and skipped files, both sorted by the bytes of their path, and
        the count of ignored non-image files.
    """
    walker = _Walker(exclude)
    tops = []
    for given in paths:
        found = walker.visit(os.path.abspath(given), top=True)
        if found is not None:
            tops.append(found[0])
    walker.walk(tops)
    found_paths = sorted(walker.found, key=os.fsencode)
    skipped = [walker.skipped[p] for p in sorted(walker.skipped, key=os.fsencode)]
    return Scan([walker.found[p] for p in found_paths], skipped, walker.ignored)


def scan_folder(root: Path, *, exclude: Iterable[Path] = ()) -> Scan:
    """Scan one folder; the same as ``scan_paths([root], exclude=exclude)``.

    Args:
        root: The folder to walk.
        exclude: Paths whose contents are never listed (the index's own folder).

    Returns:
        See :func:`scan_paths`.
    """
    return scan_paths([root], exclude=exclude)


def _read_file(path: Path) -> tuple[bytes, os.stat_result]:
    """Read a whole regular file once, never blocking on a FIFO or device."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError as exc:
        raise _Skip(SkipReason.UNREADABLE_FILE, _describe(exc)) from exc
    except OSError as exc:  # ENOENT, ELOOP, ENXIO (a socket), ...
        raise _Skip(_open_failure_reason(path, exc), _describe(exc)) from exc
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(file.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _Skip(SkipReason.NOT_REGULAR_FILE, stat.filemode(st.st_mode))
        if st.st_size == 0:
            raise _Skip(SkipReason.EMPTY_FILE)
        if st.st_size > _MAX_FILE_BYTES:
            raise _Skip(SkipReason.TOO_LARGE, f"file of {st.st_size} bytes")
        try:
            data = file.read(st.st_size + 1)
        except OSError as exc:
            raise _Skip(SkipReason.UNREADABLE_FILE, _describe(exc)) from exc
    if len(data) != st.st_size:
        raise _Skip(SkipReason.VANISHED, "file changed while being read")
    return data, st


def _open_failure_reason(path: Path, exc: OSError) -> SkipReason:
    try:
        lst = os.lstat(path)
    except OSError:
        return SkipReason.VANISHED
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return SkipReason.DANGLING_LINK if stat.S_ISLNK(lst.st_mode) else SkipReason.VANISHED
    if not stat.S_ISREG(mode):
        return SkipReason.NOT_REGULAR_FILE
    return SkipReason.VANISHED if isinstance(exc, FileNotFoundError) else SkipReason.UNREADABLE_FILE


def _failure_reason(exc: Exception, data: bytes) -> SkipReason:
    """Tell a cut-off file from another decoding failure."""
    if isinstance(exc, EOFError) or "truncat" in str(exc).lower():
        return SkipReason.TRUNCATED
    # Pillow sometimes only says "cannot load this image" (JPEG cut inside its
    # header) or libwebp "could not create decoder object"; the file's own
    # framing tells whether it was cut off.
    for magic, end in _END_MARKERS:
        if data.startswith(magic) and not data.rstrip(b"\0").endswith(end):
            return SkipReason.TRUNCATED
    riff_size = int.from_bytes(data[4:8], "little") + 8
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) < riff_size:
        return SkipReason.TRUNCATED
    return SkipReason.DECODE_ERROR


def _open_image(data: bytes) -> Image.Image:
    """Read the header only; the decompression-bomb check fires here."""
    try:
        im = Image.open(io.BytesIO(data))
    except MemoryError:
        raise
    except Image.DecompressionBombError as exc:
        raise _Skip(SkipReason.TOO_LARGE, _describe(exc)) from exc
    except UnidentifiedImageError as exc:
        raise _Skip(SkipReason.NOT_AN_IMAGE, "unrecognised image format") from exc
    except Exception as exc:
        raise _Skip(_failure_reason(exc, data), _describe(exc)) from exc
    width, height = im.size
    if width * height > _MAX_PIXELS:
        raise _Skip(SkipReason.TOO_LARGE, f"{width}x{height} pixels")
    if width < 1 or height < 1:
        raise _Skip(SkipReason.DECODE_ERROR, f"{width}x{height} pixels")
    return im


def _orientation(im: Image.Image) -> Image.Transpose | None:
    """The transposition the EXIF orientation asks for; None when absent or unreadable."""
    try:
        value = im.getexif().get(0x0112, 1)
        return _ORIENTATION.get(int(value))
    except MemoryError:
        raise
    except Exception as exc:  # bad EXIF must not lose the image
        logger.debug("ignoring unreadable EXIF: %s", _describe(exc))
        return None


def _scale_to_uint8(array: NDArray[np.generic], mode: str) -> NDArray[np.uint8]:
    """Scale 16-bit, 32-bit integer or float samples to 0..255 (never clip)."""
    if mode.startswith("I;16") or (mode == "I" and array.min() >= 0 and array.max() <= 65535):
        wide = array.astype(np.uint32)
        return ((wide + 128) // 257).astype(np.uint8)
    values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if mode == "F" and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    span = high - low if high > low else 1.0
    return np.rint((values - low) * (255.0 / span)).astype(np.uint8)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Normalise any mode to 8-bit RGB; transparency is composited on white."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _scale_to_uint8(np.asarray(im), mode)
        return Image.fromarray(np.ascontiguousarray(np.stack([grey] * 3, axis=-1)))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        background = Image.new("RGBA", im.size, (*_WHITE, 255))
        background.alpha_composite(im.convert("RGBA"))
        return background.convert("RGB")
    return im if mode == "RGB" else im.convert("RGB")


def _decode(data: bytes, *, need: int) -> tuple[Image.Image, int, int]:
    """Decode the first frame to upright 8-bit RGB; also return the oriented original size."""
    im = _open_image(data)
    width, height = im.size
    if im.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below ``need`` on either side.
        im.draft(None, (need, need))
    try:
        im.load()
    except MemoryError:
        raise
    except Exception as exc:
        raise _Skip(_failure_reason(exc, data), _describe(exc)) from exc
    method = _orientation(im)
    rgb = _to_rgb(im)
    if method is not None:
        rgb = rgb.transpose(method)
        if method in (
            Image.Transpose.TRANSPOSE,
            Image.Transpose.ROTATE_270,
            Image.Transpose.TRANSVERSE,
            Image.Transpose.ROTATE_90,
        ):
            width, height = height, width
    return rgb, width, height


def _encode_thumbnail(rgb: Image.Image, max_side: int) -> tuple[bytes, float]:
    """Downscale keeping the aspect ratio (like ``Image.thumbnail``) and encode as WebP.

    Returns:
        The WebP bytes and the thumbnail's :func:`sharpness`.
    """
    scale = min(max_side / rgb.width, max_side / rgb.height, 1.0)
    box = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    thumb = rgb.resize(box, Image.Resampling.LANCZOS, reducing_gap=2.0)
    thumb.info = {}  # no EXIF, GPS, XMP or ICC in what the report embeds
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=_THUMBNAIL_QUALITY, method=4, exif=b"", xmp=b"")
    return out.getvalue(), sharpness(thumb)


def sharpness(image: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image (0 for one under 3x3 pixels).

    A blurred copy scores lower than its sharp original; computed on the
    thumbnail, so images of different sizes are compared at one scale.
    """
    g = np.asarray(image.convert("L"), dtype=np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return round(float(lap.var()), 3)


def load_image(
    path: Path, *, size: int = MODEL_INPUT_SIZE, thumbnail_size: int = THUMBNAIL_SIZE
) -> LoadedImage | Skipped:
    """Decode one file into model pixels and a thumbnail, or say why it cannot be.

    Steps (INPUTS.md): open without blocking and ``fstat`` (regular, non-empty);
    read and hash the bytes once; parse the header (bomb check); decode the
    first frame (JPEG at reduced scale via ``draft``); apply the EXIF
    orientation; normalise to 8-bit RGB; resize.

    Args:
        path: The file to decode.
        size: Side in pixels of the square model input; the image is stretched to it.
        thumbnail_size: Largest side in pixels of the WebP thumbnail.

    Returns:
        A :class:`LoadedImage`, or a :class:`Skipped` with the reason; a bad file
        never raises.

    Raises:
        ValueError: If ``size`` or ``thumbnail_size`` is out of range.
    """
    if not 1 <= size <= 16384:
        raise ValueError(f"size must be between 1 and 16384, got {size}")
    if not 1 <= thumbnail_size <= 16383:
        raise ValueError(f"thumbnail_size must be between 1 and 16383, got {thumbnail_size}")
    try:
        data, st = _read_file(path)
        rgb, width, height = _decode(data, need=max(size, thumbnail_size))
        model = rgb.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        pixels = np.array(model, dtype=np.uint8)
        thumbnail, sharp = _encode_thumbnail(rgb, thumbnail_size)
    except _Skip as skip:
        return Skipped(path, skip.reason, skip.detail)
    except MemoryError:
        raise
    except Exception as exc:  # Pillow plugins raise SyntaxError, ValueError, TypeError...
        logger.debug("cannot decode %s", display_path(str(path)), exc_info=True)
        return Skipped(path, SkipReason.DECODE_ERROR, _describe(exc))
    return LoadedImage(
        path=path,
        pixels=pixels,
        thumbnail=thumbnail,
        width=width,
        height=height,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        sha256=hashlib.sha256(data).hexdigest(),
        sharpness=sharp,
    )
