"""Files the report page writes for explorer to read back: its tag export and selection CSV.

The page exports the tags added in it as JSON (``{"format": "explorer-tags",
"version": 1, "tags": {path: [tag, ...]}}``) or as CSV (``path,tag``), and a
selection as ``selection.csv`` (a ``path`` column among others). Its CSV cells
that start with ``= + - @``, a tab, a carriage return or ``'`` carry a leading
``'`` (so that a spreadsheet runs no formula); reading undoes exactly that.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from explorer.errors import UsageError
from explorer.store.manifest import load_json

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest tag or selection file read (a page of 100,000 images writes about 10 MB)."""

_GUARDED = "=+-@\t\r'"


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text") from exc


def unguard(cell: str) -> str:
    """A CSV cell as the page meant it: the formula guard ``'`` removed."""
    return cell[1:] if len(cell) > 1 and cell[0] == "'" and cell[1] in _GUARDED else cell


def _csv_rows(text: str, path: Path, column: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if column not in (reader.fieldnames or []):
        raise UsageError(f"{path} has no {column!r} column (is it a file the report wrote?)")
    try:
        return list(reader)
    except csv.Error as exc:
        raise UsageError(f"{path} is not valid CSV: {exc}") from exc


def read_selection(path: Path) -> list[str]:
    """The image paths of a ``selection.csv`` the report downloaded, in file order.

    Raises:
        UsageError: Unreadable, not CSV, or without a ``path`` column.
    """
    rows = _csv_rows(_read_text(path), path, "path")
    return list(dict.fromkeys(unguard(r["path"] or "") for r in rows if r.get("path")))


def read_tag_export(path: Path) -> dict[str, list[str]]:
    """Path -> tags from a tag file the report exported (JSON or CSV).

    Raises:
        UsageError: Unreadable, or neither the JSON nor the CSV the page writes.
    """
    text = _read_text(path)
    out: dict[str, list[str]] = {}
    if text.lstrip().startswith("{"):
        try:
            data = load_json(text.encode("utf-8"), max_depth=3)
            if data.get("format") != "explorer-tags" or data.get("version") != 1:
                raise ValueError("not an explorer-tags file (version 1)")
            tags = data["tags"]
            if not isinstance(tags, dict) or not all(
                isinstance(v, list) and all(isinstance(t, str) for t in v) for v in tags.values()
            ):
                raise ValueError("tags must map paths to lists of text")
        except (ValueError, KeyError) as exc:
            raise UsageError(f"{path}: {exc}") from exc
        for p, ts in tags.items():
            out.setdefault(str(p), []).extend(ts)
        return out
    for row in _csv_rows(text, path, "tag"):
        if "path" not in row:
            raise UsageError(f"{path} has no 'path' column (is it a file the report wrote?)")
        p, t = unguard(row["path"] or ""), unguard(row["tag"] or "")
        if p and t:
            out.setdefault(p, []).append(t)
    return out
