"""A picture of query results: each query beside its top-k images and their scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from explorer.errors import UsageError
from explorer.inputs.formats import register_formats
from explorer.jobs.similar import QueryResult
from explorer.store.folder import write_output
from explorer.text import display_path

TILE = 200
_LABEL = 34
_PAD = 8
_BG = (255, 255, 255)
_INK = (40, 40, 40)
_ACCENT = (31, 119, 180)
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def grid_format(out: Path) -> str:
    """The image format a grid file's extension names.

    Raises:
        UsageError: For an extension with no format here (checked before any work).
    """
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        known = ", ".join(FORMATS)
        raise UsageError(f"--save {out}: the file name must end in one of {known}")
    return fmt


def _tile(path: Path, size: int) -> Image.Image:
    """The image fitted into a square tile, EXIF-rotated; a grey tile if unreadable."""
    tile = Image.new("RGB", (size, size), (235, 235, 235))
    register_formats()
    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))
            img = ImageOps.exif_transpose(im).convert("RGBA")
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
        x, y = (size - img.width) // 2, (size - img.height) // 2
        tile.paste(img, (x, y), img)
    except Exception:  # a grid is a convenience: never fail on one file
        ImageDraw.Draw(tile).text((10, size // 2), "unreadable", fill=_INK)
    return tile


def _shorten(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def save_grid(results: Sequence[QueryResult], out: Path, *, tile: int = TILE) -> Path:
    """Draw one row per query: the query, then its matches with rank and cosine score.

    Args:
        results: Query results with matches.
        out: Image file to write (atomically), in the format its extension
            names (:data:`FORMATS`).
        tile: Tile size in pixels.

    Returns:
        ``out``.

    Raises:
        UsageError: ``out`` has no known image extension.
    """
    fmt = grid_format(out)
    rows = [r for r in results if r.skipped is None]
    columns = 1 + max((len(r.matches) for r in rows), default=0)
    cell_w, cell_h = tile + _PAD, tile + _LABEL + _PAD
    sheet = Image.new("RGB", (columns * cell_w + _PAD, max(1, len(rows)) * cell_h + _PAD), _BG)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for r, result in enumerate(rows):
        y = _PAD + r * cell_h
        cells = [(result.query, "query", _ACCENT)] + [
            (m.path, f"#{m.rank}  {m.score:.3f}", _INK) for m in result.matches
        ]
        for c, (path, label, colour) in enumerate(cells):
            x = _PAD + c * cell_w
            sheet.paste(_tile(path, tile), (x, y))
            if c == 0:
                draw.rectangle((x, y, x + tile - 1, y + tile - 1), outline=_ACCENT, width=3)
            draw.text((x, y + tile + 2), label, fill=colour, font=font)
            draw.text((x, y + tile + 17), _shorten(display_path(path.name)), fill=_INK, font=font)
    options = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
    write_output(out, lambda fh: sheet.save(fh, format=fmt, **options))
    return out
