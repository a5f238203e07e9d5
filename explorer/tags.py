"""Tags people give images, kept beside the index and untouched by rebuilds.

Tags live in ``<index>/tags.json`` keyed by the image's record path, so they
survive ``build`` re-runs (which rewrite the arrays) and ``add``. Writes are
atomic and take the index's writer lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from explorer.errors import IndexCorruptError, UsageError
from explorer.index import atomic_write_bytes, lock_index

TAGS_FILE = "tags.json"
_VERSION = 1


def load_tags(index_path: Path) -> dict[str, list[str]]:
    """Record path -> sorted tags (empty when nothing is tagged).

    Raises:
        IndexCorruptError: If the tags file is damaged.
    """
    path = index_path / TAGS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_bytes())
        tags = {str(k): sorted({str(t) for t in v}) for k, v in data["tags"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexCorruptError(f"tags file {path} is damaged ({exc})") from exc
    return {k: v for k, v in tags.items() if v}


def _save(index_path: Path, tags: dict[str, list[str]]) -> None:
    payload = {"version": _VERSION, "tags": {k: v for k, v in sorted(tags.items()) if v}}
    atomic_write_bytes(index_path / TAGS_FILE, json.dumps(payload, indent=1).encode())


def check_tag(tag: str) -> str:
    """A tag without surrounding spaces; refuses empty tags and control characters."""
    clean = tag.strip()
    if not clean or any(ord(ch) < 32 for ch in clean) or len(clean) > 200:
        raise UsageError(f"a tag must be 1-200 printable characters, got {tag!r}")
    return clean


def change_tags(index_path: Path, paths: Iterable[str], tag: str, *, remove: bool = False) -> int:
    """Add ``tag`` to (or remove it from) images given by record path.

    Returns:
        How many images changed.
    """
    tag = check_tag(tag)
    with lock_index(index_path, command="explorer untag" if remove else "explorer tag"):
        tags = load_tags(index_path)
        changed = 0
        for path in paths:
            current = set(tags.get(path, []))
            if (tag in current) != (not remove):
                changed += 1
                current.symmetric_difference_update({tag})
            tags[path] = sorted(current)
        _save(index_path, tags)
    return changed
