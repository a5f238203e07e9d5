"""Tags people give images, kept beside the index and untouched by rebuilds.

Tags live in ``<index>/tags.json`` keyed by the image's record path, so they
survive ``build`` re-runs (which rewrite the arrays) and ``add``. Writes are
atomic and take the index's writer lock. The file carries the sha256 of its
tags (version 2), so a damaged file is refused rather than silently losing a
tag; version 1 files, written before, are read without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from explorer.errors import IndexCorruptError, UsageError
from explorer.fs import atomic_write_bytes, sha256_hex
from explorer.store.folder import lock_index, read_bytes
from explorer.store.manifest import load_json

TAGS_FILE = "tags.json"
_VERSION = 2


def load_tags(index_path: Path) -> dict[str, list[str]]:
    """Record path -> sorted tags (empty when nothing is tagged).

    Raises:
        IndexCorruptError: If the tags file is damaged.
    """
    path = index_path / TAGS_FILE
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return {}
    try:
        data = load_json(raw, max_depth=3)
        stored = data["tags"]
        if not isinstance(stored, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in stored.values()
        ):
            raise ValueError("tags must map paths to lists of text")
        if (data.get("version") != 1 or "checksum" in data) and data.get("checksum") != _digest(
            stored
        ):
            raise ValueError("checksum mismatch")
        if data.get("version") not in (1, _VERSION):
            raise ValueError(f"unknown version {data.get('version')!r:.20}")
        tags = {str(k): sorted(set(v)) for k, v in stored.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexCorruptError(
            f"tags file {path} is damaged ({exc}); restore it from a backup, or delete it "
            "to start without tags"
        ) from exc
    return {k: v for k, v in tags.items() if v}


def _digest(tags: dict[str, Any]) -> str:
    return sha256_hex(
        json.dumps(tags, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    )


def _save(index_path: Path, tags: dict[str, list[str]]) -> None:
    kept = {k: v for k, v in sorted(tags.items()) if v}
    payload = {"version": _VERSION, "tags": kept, "checksum": _digest(kept)}
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


def add_tags(index_path: Path, additions: dict[str, list[str]]) -> int:
    """Merge many tags at once (e.g. a file the report exported), under one lock.

    Args:
        index_path: The index folder.
        additions: Record path -> tags to add; tags already there are kept.

    Returns:
        How many (image, tag) pairs were new.

    Raises:
        UsageError: If a tag is empty, too long or holds control characters
            (nothing is written then).
    """
    clean = {path: {check_tag(t) for t in ts} for path, ts in additions.items()}
    with lock_index(index_path, command="explorer tag --import"):
        tags = load_tags(index_path)
        added = 0
        for path, new in clean.items():
            current = set(tags.get(path, []))
            added += len(new - current)
            tags[path] = sorted(current | new)
        _save(index_path, tags)
    return added
