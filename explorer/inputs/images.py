"""Find image files and decode one file into model pixels and a thumbnail.

A photo folder is hostile input (see ``INPUTS.md``): nothing here raises for a
bad file. Scanning classifies every entry with ``lstat``/``stat`` and never
opens one; decoding returns a :class:`Skipped` with a reason code for any
file it cannot turn into an image. Only ``KeyboardInterrupt`` and
``MemoryError`` get through.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import io
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from explorer.inputs.capture import Capture, capture_from_exif
from explorer.text import display_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "MODEL_INPUT_SIZE",
    "THUMBNAIL_SIZE",
    "Candidate",
    "LoadedImage",
    "Scan",
    "SkipReason",
    "Skipped",
    "load_image",
    "register_formats",
    "scan_folder",
    "scan_paths",
]

logger = logging.getLogger(__name__)

MODEL_INPUT_SIZE = 224
THUMBNAIL_SIZE = 160
# Matched case-insensitively (``IMG_0001.HEIC``). HEIC/HEIF are read through
# pillow-heif, AVIF through Pillow's own plugin (Pillow >= 11.2).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".hif",
        ".avif",
    }
)

# Pillow's own limit (2 x MAX_IMAGE_PIXELS), enforced here too so that a library
# setting ``Image.MAX_IMAGE_PIXELS = None`` cannot switch the check off.
_MAX_PIXELS = 2 * 89_478_485
# Read whole files into memory only up to this size; larger ones are skipped.
_MAX_FILE_BYTES = 1 << 30
_THUMBNAIL_QUALITY = 70
# libwebp's effort, 0-6: method 2 encodes a 160-px thumbnail in about half the
# time of method 4 for about 3 % more bytes (docs/performance.md, Run G).
_THUMBNAIL_METHOD = 2
# Lanczos with reducing_gap=3: box-reduce by whole factors while the image stays
# at least 3x the model input, then Lanczos the rest (what the features were made with).
_MODEL_REDUCING_GAP = 3.0
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
# ISO base media files (HEIC, HEIF, AVIF): a box of (32-bit size, type) first, ``ftyp``.
_ISOBMFF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)


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
    capture: Capture
    sharpness: float | None = None


class _Skip(Exception):
    """Internal: carries a skip reason out of the decoding steps."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@functools.cache
def register_formats() -> bool:
    """Teach Pillow to open HEIC/HEIF files (through pillow-heif), once per process.

    Returns:
        Whether HEIC/HEIF can be read; without pillow-heif such files are skipped
        as ``not_an_image`` with a detail that says what to install.
    """
    try:
        import pillow_heif
    except ImportError:
        logger.debug("pillow-heif is not installed: HEIC/HEIF files cannot be read")
        return False
    pillow_heif.register_heif_opener()
    return True


def _is_isobmff(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in _ISOBMFF_BRANDS


def _isobmff_truncated(data: bytes) -> bool:
    """Whether the top-level boxes of a HEIF/AVIF file run past its end."""
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1:  # a 64-bit size follows the type
            if pos + 16 > len(data):
                return True
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:  # the box runs to the end of the file
            return False
        if size < 8:
            return False  # not a box structure at all: let the decoder's error stand
        pos += size
    return pos != len(data)


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
    if _is_isobmff(data) and _isobmff_truncated(data):
        return SkipReason.TRUNCATED
    return SkipReason.DECODE_ERROR


def _cut_signature(data: bytes) -> bool:
    """A JPEG, PNG, GIF or WebP signature (or the start of one) that Pillow could not open.

    Such a file was cut off, often after a few bytes: ``truncated``, not
    ``not_an_image``. Two bytes are the least that tell a format.
    """
    if len(data) < 2:
        return False
    if data[:4] == b"RIFF"[: len(data)] and (
        len(data) <= 8 or data[8:12] == b"WEBP"[: len(data) - 8]
    ):
        return True
    return any(data[: len(magic)] == magic[: len(data)] for magic, _ in _END_MARKERS)


def _open_image(data: bytes) -> Image.Image:
    """Read the header only; the decompression-bomb check fires here."""
    heif = register_formats()
    try:
        im = Image.open(io.BytesIO(data))
    except MemoryError:
        raise
    except Image.DecompressionBombError as exc:
        raise _Skip(SkipReason.TOO_LARGE, _describe(exc)) from exc
    except UnidentifiedImageError as exc:
        if _is_isobmff(data):  # a HEIF/AVIF file its plugin could not read
            if _isobmff_truncated(data):
                raise _Skip(SkipReason.TRUNCATED, "HEIF/AVIF boxes run past the end") from exc
            if not heif and data[8:12] not in (b"avif", b"avis"):
                raise _Skip(SkipReason.NOT_AN_IMAGE, "HEIC/HEIF needs pillow-heif") from exc
            raise _Skip(SkipReason.DECODE_ERROR, "unreadable HEIF/AVIF file") from exc
        if _cut_signature(data):
            raise _Skip(SkipReason.TRUNCATED, "file ends inside its image header") from exc
        raise _Skip(SkipReason.NOT_AN_IMAGE, "unrecognised image format") from exc
    except Exception as exc:
        raise _Skip(_failure_reason(exc, data), _describe(exc)) from exc
    width, height = im.size
    if width * height > _MAX_PIXELS:
        raise _Skip(SkipReason.TOO_LARGE, f"{width}x{height} pixels")
    if width < 1 or height < 1:
        raise _Skip(SkipReason.DECODE_ERROR, f"{width}x{height} pixels")
    return im


def _exif(im: Image.Image) -> Image.Exif | None:
    """The parsed EXIF block (orientation, capture facts); None when unreadable."""
    try:
        return im.getexif()
    except MemoryError:
        raise
    except Exception as exc:  # bad EXIF must not lose the image
        logger.debug("ignoring unreadable EXIF: %s", _describe(exc))
        return None


def _orientation(exif: Image.Exif | None) -> Image.Transpose | None:
    """The transposition the EXIF orientation asks for; None when absent or unreadable."""
    if exif is None:
        return None
    try:
        return _ORIENTATION.get(int(exif.get(0x0112, 1)))
    except MemoryError:
        raise
    except Exception as exc:  # bad EXIF must not lose the image
        logger.debug("ignoring unreadable EXIF orientation: %s", _describe(exc))
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
        # One blending pass onto white, the same pixels as alpha_composite on an
        # opaque white RGBA and a conversion back, at about 60 % of the cost.
        rgba = im if mode == "RGBA" else im.convert("RGBA")
        background = Image.new("RGB", im.size, _WHITE)
        background.paste(rgba, (0, 0), rgba)
        return background
    return im if mode == "RGB" else im.convert("RGB")


def _decode(data: bytes, *, need: int) -> tuple[Image.Image, int, int, Image.Exif | None]:
    """Decode the first frame to upright 8-bit RGB; also the oriented original size and EXIF."""
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
    exif = _exif(im)
    method = _orientation(exif)
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
    return rgb, width, height, exif


def _reduce(rgb: Image.Image, size: int) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """Box-reduce once for both the model input and the thumbnail.

    The same whole factors, and the same source box, that
    ``rgb.resize((size, size), LANCZOS, reducing_gap=3.0)`` uses inside, so the
    model input comes out identical; the thumbnail is then made from the
    reduced image instead of reducing the full one a second time.
    """
    fx = int(rgb.width / size / _MODEL_REDUCING_GAP) or 1
    fy = int(rgb.height / size / _MODEL_REDUCING_GAP) or 1
    if fx == fy == 1:
        return rgb, (0.0, 0.0, float(rgb.width), float(rgb.height))
    return rgb.reduce((fx, fy)), (0.0, 0.0, rgb.width / fx, rgb.height / fy)


def _encode_thumbnail(
    base: Image.Image, box: tuple[float, float, float, float], width: int, height: int, side: int
) -> tuple[bytes, float]:
    """Downscale to fit ``side`` keeping the ``width:height`` aspect ratio; encode as WebP.

    ``base`` may be a box-reduced copy of the ``width x height`` image (``box`` is
    the original's extent in it); a thumbnail is never larger than the original.
    """
    scale = min(side / width, side / height, 1.0)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == base.size and box == (0.0, 0.0, *base.size):
        thumb = base.copy()
    else:  # box-reduce down to < 2x, then Lanczos: visually the same as reducing_gap=2
        thumb = base.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=1.0)
    thumb.info = {}  # no EXIF, GPS, XMP or ICC in what the report embeds
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=_THUMBNAIL_QUALITY, method=_THUMBNAIL_METHOD, exif=b"", xmp=b"")
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
    orientation and read the capture facts from the same EXIF block;
    normalise to 8-bit RGB; resize.

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
        rgb, width, height, exif = _decode(data, need=max(size, thumbnail_size))
        base, box = _reduce(rgb, size)
        model = base.resize((size, size), Image.Resampling.LANCZOS, box=box)
        pixels = np.array(model, dtype=np.uint8)
        thumbnail, sharp = _encode_thumbnail(base, box, rgb.width, rgb.height, thumbnail_size)
        capture = capture_from_exif(exif, mtime_ns=st.st_mtime_ns)
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
        capture=capture,
        sharpness=sharp,
    )
