"""What a file's own bytes say about its format: HEIF support, cut-off files.

Pillow's error messages do not always say that a file was truncated; the
framing of the common formats (end markers, RIFF sizes, ISO-BMFF boxes) does.
"""

from __future__ import annotations

import functools
import logging

from explorer.inputs.skips import SkipReason

logger = logging.getLogger(__name__)

# (signature, last bytes of a complete file) for formats that have an end marker.
END_MARKERS = (
    (b"\xff\xd8\xff", b"\xff\xd9"),
    (b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"),
    (b"GIF8", b";"),
)
# ISO base media files (HEIC, HEIF, AVIF): a box of (32-bit size, type) first, ``ftyp``.
_ISOBMFF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)


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


def is_isobmff(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in _ISOBMFF_BRANDS


def isobmff_truncated(data: bytes) -> bool:
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


def failure_reason(exc: Exception, data: bytes) -> SkipReason:
    """Tell a cut-off file from another decoding failure."""
    if isinstance(exc, EOFError) or "truncat" in str(exc).lower():
        return SkipReason.TRUNCATED
    # Pillow sometimes only says "cannot load this image" (JPEG cut inside its
    # header) or libwebp "could not create decoder object"; the file's own
    # framing tells whether it was cut off.
    for magic, end in END_MARKERS:
        if data.startswith(magic) and not data.rstrip(b"\0").endswith(end):
            return SkipReason.TRUNCATED
    riff_size = int.from_bytes(data[4:8], "little") + 8
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) < riff_size:
        return SkipReason.TRUNCATED
    if is_isobmff(data) and isobmff_truncated(data):
        return SkipReason.TRUNCATED
    return SkipReason.DECODE_ERROR


def cut_signature(data: bytes) -> bool:
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
    return any(data[: len(magic)] == magic[: len(data)] for magic, _ in END_MARKERS)
