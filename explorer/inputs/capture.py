"""When and with what a photo was taken, from its EXIF header; never its location.

A photo's capture date (EXIF ``DateTimeOriginal``, else the file's modification
time, marked as such), its camera (make and model) and whether it carries GPS
coordinates are kept in the index. The coordinates themselves are not: an
index can be shared, and where someone lives is not the tool's business. Only
:func:`read_location`, which reads them from the file when the user asks
(``explorer export --gps``), ever returns them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = [
    "Capture",
    "CaptureSummary",
    "capture_from_exif",
    "describe",
    "facets",
    "read_capture",
    "read_location",
    "summarise",
]

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
_MAKE, _MODEL = 0x010F, 0x0110
_DATE_ORIGINAL, _DATE_DIGITIZED = 0x9003, 0x9004
_OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9011, 0x9012
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_OFFSET = re.compile(r"[+-](0\d|1[0-4]):[0-5]\d")
_MAX_CAMERA = 80
SOURCES = ("exif", "mtime")


@dataclass(frozen=True, slots=True)
class Capture:
    """What the index keeps of a photo's header.

    Attributes:
        taken: ISO 8601 local time (``2021-05-03T10:11:12``, with the EXIF UTC
            offset when the file has one); ``None`` only when not even the
            modification time could be read.
        taken_source: ``"exif"`` (DateTimeOriginal, else DateTimeDigitized) or
            ``"mtime"`` (the file's modification time: no usable EXIF date).
        camera: ``"Make Model"`` from EXIF (the make once, when the model
            repeats it), or ``None``.
        has_gps: The file carries GPS coordinates (they are not kept).
    """

    taken: str | None
    taken_source: str
    camera: str | None
    has_gps: bool


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return ""
    return " ".join(value.replace("\x00", " ").split())


def _exif_date(exif: Image.Exif) -> str | None:
    ifd = exif.get_ifd(EXIF_IFD)
    dates = ((_DATE_ORIGINAL, _OFFSET_ORIGINAL), (_DATE_DIGITIZED, _OFFSET_DIGITIZED))
    for tag, offset_tag in dates:
        text = _text(ifd.get(tag))
        try:
            when = dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:  # blank, "0000:00:00 00:00:00", or not a date at all
            continue
        offset = _text(ifd.get(offset_tag))
        return when.isoformat() + (offset if _OFFSET.fullmatch(offset) else "")
    return None


def _camera(exif: Image.Exif) -> str | None:
    make, model = _text(exif.get(_MAKE)), _text(exif.get(_MODEL))
    if make and model.lower().startswith(make.split()[0].lower()):
        make = ""  # "Canon" + "Canon EOS 5D": the model already names the maker
    camera = f"{make} {model}".strip()
    return camera[:_MAX_CAMERA] or None


def _mtime(mtime_ns: int) -> str | None:
    try:
        return dt.datetime.fromtimestamp(mtime_ns / 1e9).replace(microsecond=0).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def capture_from_exif(exif: Image.Exif | None, *, mtime_ns: int) -> Capture:
    """Capture facts from a parsed EXIF block (``None``: the file has none or it is unreadable).

    Args:
        exif: ``Image.getexif()`` of the opened file.
        mtime_ns: The file's modification time, the fallback capture date.

    Returns:
        The capture facts; never raises for odd EXIF values.
    """
    taken = camera = None
    has_gps = False
    if exif:  # most PNGs and clip art have none: skip straight to the fallback
        try:
            taken = _exif_date(exif)
            camera = _camera(exif)
            gps = exif.get_ifd(GPS_IFD)
            has_gps = _GPS_LAT in gps and _GPS_LON in gps
        except MemoryError:
            raise
        except Exception as exc:  # a malformed EXIF block loses its facts, not the image
            log.debug("ignoring unreadable EXIF: %s", exc)
    if taken is not None:
        return Capture(taken, "exif", camera, has_gps)
    return Capture(_mtime(mtime_ns), "mtime", camera, has_gps)


def _open_exif(path: Path) -> Image.Exif | None:
    from explorer.inputs.formats import register_formats

    register_formats()
    try:
        with Image.open(path) as im:  # the header only: no pixel is decoded
            return im.getexif()
    except MemoryError:
        raise
    except Exception as exc:
        log.debug("no EXIF from %s: %s", path, exc)
        return None


def read_capture(path: Path, *, mtime_ns: int) -> Capture:
    """Capture facts of a file from its header, without decoding it.

    Used to give records of an older index their capture facts without
    extracting their features again.

    Args:
        path: The image file.
        mtime_ns: Its modification time (the fallback date).

    Returns:
        The capture facts (the ``mtime`` fallback when the file cannot be opened).
    """
    return capture_from_exif(_open_exif(path), mtime_ns=mtime_ns)


def _degrees(value: Any, ref: Any) -> float:
    d, m, s = (float(x) for x in value)
    sign = -1.0 if _text(ref).upper() in ("S", "W") else 1.0
    return round(sign * (d + m / 60 + s / 3600), 6)


def read_location(path: Path) -> tuple[float, float] | None:
    """GPS latitude and longitude in degrees, read from the file itself.

    Only ``explorer export --gps`` calls this: the index never holds coordinates.

    Args:
        path: The image file.

    Returns:
        ``(latitude, longitude)``, or ``None`` when the file has no readable GPS block.
    """
    exif = _open_exif(path)
    if exif is None:
        return None
    try:
        gps = exif.get_ifd(GPS_IFD)
        return (
            _degrees(gps[_GPS_LAT], gps.get(_GPS_LAT_REF)),
            _degrees(gps[_GPS_LON], gps.get(_GPS_LON_REF)),
        )
    except MemoryError:
        raise
    except Exception:  # no GPS block, or one with the wrong shape
        return None


def describe(record: Any) -> str:
    """One line for people: ``2019-07-14 18:30 · Canon EOS 5D · 4032×3024``.

    A date from the file's modification time says so; GPS is never mentioned
    beyond its presence. ``record`` is an index record.
    """
    parts = []
    if record.taken:
        when = record.taken[:16].replace("T", " ")
        parts.append(f"{when} (file date)" if record.taken_source == "mtime" else when)
    if record.camera:
        parts.append(record.camera)
    parts.append(f"{record.width}×{record.height}")
    return " · ".join(parts)


def facets(records: Iterable[Any]) -> dict[str, list[str | None]]:
    """What the report's map can be coloured by: the year taken and the camera.

    A year that came from the file's modification time says so
    (``"2026 (file date)"``). ``records`` are index records.
    """
    years: list[str | None] = []
    cameras: list[str | None] = []
    for r in records:
        year = r.taken[:4] if r.taken else None
        if year and r.taken_source == "mtime":
            year += " (file date)"
        years.append(year)
        cameras.append(r.camera)
    return {"Year taken": years, "Camera": cameras}


@dataclass(frozen=True)
class CaptureSummary:
    """What ``explorer info`` says about capture dates and cameras."""

    first: str | None
    last: str | None
    from_exif: int
    from_mtime: int
    unknown: int
    cameras: list[tuple[str, int]]
    with_gps: int


def summarise(records: Iterable[Any]) -> CaptureSummary:
    """Date range, date sources, cameras (most common first) and GPS count of index records.

    Args:
        records: Objects with ``taken``, ``taken_source``, ``camera`` and ``has_gps``
            (index records; ``taken_source`` ``None`` means not read yet).

    Returns:
        The summary.
    """
    dates: list[str] = []
    sources: Counter[str | None] = Counter()
    cameras: Counter[str] = Counter()
    gps = 0
    for r in records:
        sources[r.taken_source] += 1
        if r.taken:
            dates.append(r.taken[:19])
        if r.camera:
            cameras[r.camera] += 1
        gps += bool(r.has_gps)
    return CaptureSummary(
        first=min(dates) if dates else None,
        last=max(dates) if dates else None,
        from_exif=sources["exif"],
        from_mtime=sources["mtime"],
        unknown=sum(n for s, n in sources.items() if s not in SOURCES),
        cameras=sorted(cameras.items(), key=lambda x: (-x[1], x[0])),
        with_gps=gps,
    )
