"""Find the image files under the given paths, without opening any of them.

Scanning classifies every entry with ``lstat``/``stat``: images become
:class:`Candidate` rows, unreadable or special files :class:`Skipped` ones with
a reason code (INPUTS.md), anything else is counted as ignored. Decoding is
:mod:`explorer.inputs.decode`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from explorer.inputs.skips import Skipped, SkipReason, describe

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


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


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
                self.skip(path, reason, describe(exc))
            return None
        st = lst
        if stat.S_ISLNK(lst.st_mode):
            try:
                st = os.stat(path)
            except OSError as exc:  # a link to nothing, or a loop of links
                if image:
                    self.skip(path, SkipReason.DANGLING_LINK, describe(exc))
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
                self.skip(folder, reason, describe(exc))
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
