"""Thumbnails in the HTML report: ``data:`` URIs, the page's size budget, the sidecar folder.

Image sources in the page are only the ``data:`` URIs built here (with a
whitelisted MIME type, from the bytes' signature) or the sidecar paths written
here, named by image index and never by file name.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from explorer.errors import ExplorerError

log = logging.getLogger(__name__)

BYTES_PER_IMAGE = 4096
"""Target average size of the page per image (thumbnail as base64 plus its data)."""

THUMB_BYTES_CAP = 2900
"""Largest embedded thumbnail, in bytes; bigger ones are re-encoded (2900 B is 3.9 KB as base64)."""

SIDECAR_MARKER = ".explorer-thumbnails"
"""File that marks a sidecar folder as written by explorer (and safe to replace)."""

_REENCODE_STEPS = ((160, 60), (144, 55), (128, 50), (112, 45), (96, 40))
_FILES_PER_ADVANCE = 256  # sidecar files written between two progress advances
_PLACEHOLDER = "data:image/svg+xml;base64," + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<rect width="64" height="64" fill="#e2e8f0"/></svg>'
).decode("ascii")


def mime_type(blob: bytes) -> str | None:
    """The image type of encoded bytes, from their signature.

    Args:
        blob: Encoded image bytes.

    Returns:
        ``"image/webp"``, ``"image/jpeg"`` or ``"image/png"``; ``None`` for anything else.
    """
    if blob[:4] == b"RIFF" and blob[8:12] == b"WEBP":
        return "image/webp"
    if blob[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if blob[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None


def data_uri(blob: bytes) -> str:
    """A ``data:`` URI for a thumbnail; a grey placeholder when the bytes are not an image.

    Args:
        blob: Encoded WebP, JPEG or PNG bytes.

    Returns:
        The URI; it holds only a whitelisted MIME type and base64 text.
    """
    mime = mime_type(blob)
    if mime is None:
        return _PLACEHOLDER
    return f"data:{mime};base64,{base64.b64encode(blob).decode('ascii')}"


def fit_budget(
    thumbs: list[bytes], *, progress: Callable[[int], None] | None = None
) -> list[bytes]:
    """Re-encode thumbnails above :data:`THUMB_BYTES_CAP` as smaller WebPs.

    Each oversized thumbnail is tried at falling sizes and qualities (160 px at
    quality 60 down to 96 px at 40) until it fits; smaller ones are kept as is.

    Args:
        thumbs: Encoded thumbnails.
        progress: Called with the number of thumbnails done: once for all
            those that fit, then once per re-encoded one.

    Returns:
        The thumbnails, oversized ones replaced.
    """
    advance = progress or (lambda n: None)
    big = [i for i, t in enumerate(thumbs) if len(t) > THUMB_BYTES_CAP]
    advance(len(thumbs) - len(big))
    if not big:
        return thumbs
    from PIL import Image

    out = list(thumbs)
    for i in big:
        advance(1)  # counted before the work: a failed decode below skips the rest
        try:
            with Image.open(io.BytesIO(thumbs[i])) as im:
                im.load()
                src = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        except Exception:  # an undecodable thumbnail keeps its bytes (or the placeholder)
            continue
        for side, quality in _REENCODE_STEPS:
            small = src.copy()
            small.thumbnail((side, side))
            buf = io.BytesIO()
            small.save(buf, "WEBP", quality=quality, method=4)
            out[i] = buf.getvalue()
            if len(out[i]) <= THUMB_BYTES_CAP:
                break
    log.info("re-encoded %d of %d thumbnails to stay within the size budget", len(big), len(thumbs))
    return out


def write_sidecar(
    thumbs: list[bytes], folder: Path, *, progress: Callable[[int], None] | None = None
) -> list[str]:
    """Write thumbnails to a sidecar folder, replacing an earlier one atomically.

    The files are named by image index (``000042.webp``), never by file name.

    Args:
        thumbs: Encoded thumbnails.
        folder: The sidecar folder, next to the page.
        progress: Called with the number of thumbnails written (every few
            hundred, and for the rest at the end).

    Returns:
        One URL per thumbnail, relative to the page's folder.

    Raises:
        ExplorerError: If ``folder`` exists and was not written by explorer.
    """
    if folder.exists() and not (folder / SIDECAR_MARKER).is_file():
        raise ExplorerError(
            f"{folder} exists and was not written by explorer: remove it or choose another --out"
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        os.chmod(tmp, 0o755)
        base = quote(folder.name, safe="")
        urls = []
        ext = {"image/webp": "webp", "image/jpeg": "jpg", "image/png": "png"}
        for i, blob in enumerate(thumbs):
            if progress is not None and i and i % _FILES_PER_ADVANCE == 0:
                progress(_FILES_PER_ADVANCE)
            mime = mime_type(blob)
            if mime is None:
                urls.append(_PLACEHOLDER)
                continue
            name = f"{i:06d}.{ext[mime]}"
            (tmp / name).write_bytes(blob)
            urls.append(f"{base}/{name}")
        if progress is not None and thumbs:
            progress(len(thumbs) % _FILES_PER_ADVANCE or _FILES_PER_ADVANCE)  # the rest
        (tmp / SIDECAR_MARKER).write_text("thumbnails of an explorer report\n", encoding="utf-8")
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return urls
