"""The files explorer writes: the index folder's own, and output files for the user.

The index folder holds only files explorer wrote, and nothing outside it is
ever touched:

- :func:`claim_folder` marks a folder as an index (``explorer-index``, written
  before anything else) and refuses one that is neither empty nor ours, so
  ``--index ~/Documents`` cannot delete a single document.
- Every file of the index is opened without following symlinks
  (``O_NOFOLLOW``) and must be a regular file; every sub-folder must be a real
  folder. A symlink where an index file should be is refused
  (:class:`~explorer.errors.UnsafeIndexError`), never written or read through.
- Cleanup deletes only names the index itself writes, matched exactly
  (:func:`is_own_name`).
- Every file of the index is written with :func:`explorer.fs.atomic_write`:
  temp file in the same folder (``O_EXCL | O_NOFOLLOW``), fsync, rename.
- :func:`write_output` is the one way a file the user named (``--out``,
  ``--save``) is written: atomically over a regular file (keeping its mode),
  through an existing device or FIFO (``/dev/null``, ``/dev/stdout``), never
  inside an index folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from explorer.errors import IndexLockedError, UnsafeIndexError, UsageError
from explorer.fs import (
    CLOEXEC,
    NOFOLLOW,
    NONBLOCK,
    TEMP_NAME,
    NotRegularFileError,
    atomic_write,
    fsync_dir,
    open_regular,
)

REPORTS = "reports"
"""The one folder inside an index where reports may be written (``explorer build .``
puts its report there rather than into the photo folder); no commit touches it."""

MARKER = "explorer-index"
"""The file that makes a folder recognisable as an explorer index."""
_MARKER_TEXT = b"explorer index folder: every file here is written and deleted by explorer\n"
LOCK = "lock"
CHECKPOINTS = "checkpoints"

GENERATION_NAME = re.compile(r"(?P<key>[a-z][a-z_]{0,31})-\d{14}-[0-9a-f]{6}\.(?:json|npy|npz|bin)")
"""A generation's data file: ``<key>-<yyyymmddhhmmss>-<6 hex>.<ext>``."""
_FIXED = {"manifest.json", LOCK, "tags.json", "quarantine.json", CHECKPOINTS, MARKER}


def is_own_name(name: str) -> bool:
    """Whether ``name`` (at the top of an index folder) is one explorer writes."""
    temp = TEMP_NAME.fullmatch(name)
    if temp is not None:
        name = temp["name"]
    return name in _FIXED or GENERATION_NAME.fullmatch(name) is not None


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of :func:`explorer.fs.atomic_write`'s temporary files."""
    return TEMP_NAME.fullmatch(name) is not None


# ---------------------------------------------------------------- the folder


def claim_folder(path: Path) -> None:
    """Make ``path`` an index folder, or check that it is one.

    A missing or empty folder is created and marked; a marked one is ours; an
    index written before the marker existed (only explorer's own names and a
    ``manifest.json``) is marked. Anything else is refused.

    Raises:
        UnsafeIndexError: ``path`` is not a folder, or holds files that are not
            the index's, or its marker is a symlink.
    """
    if os.path.lexists(path) and not path.is_dir():
        raise UnsafeIndexError(f"--index {path} is not a folder; choose a new or empty folder")
    path.mkdir(parents=True, exist_ok=True)
    try:
        st = os.lstat(path / MARKER)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeIndexError(f"{path / MARKER} is not a regular file; refusing to use {path}")
        return
    names = sorted(os.listdir(path))
    foreign = [n for n in names if not is_own_name(n)]
    if foreign or (names and "manifest.json" not in names and LOCK not in names):
        shown = ", ".join(repr(n) for n in (foreign or names)[:3])
        raise UnsafeIndexError(
            f"--index {path} is a folder that is not an explorer index (it holds {shown}"
            f"{', ...' if len(foreign or names) > 3 else ''}); explorer writes and deletes files "
            "in its index folder, so give it a new or empty folder"
        )
    _write_marker(path)


def is_index_folder(path: Path) -> bool:
    """Whether ``path`` carries the index marker (a regular file, not a symlink)."""
    try:
        return stat.S_ISREG(os.lstat(path / MARKER).st_mode)
    except OSError:
        return False


def _write_marker(path: Path) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC
    try:
        fd = os.open(path / MARKER, flags, 0o644)
    except FileExistsError:
        return  # another process marked it a moment ago
    try:
        os.write(fd, _MARKER_TEXT)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path)


def subfolder(path: Path, name: str, *, create: bool = True) -> Path | None:
    """A real sub-folder of the index (created if ``create``); ``None`` if absent.

    Raises:
        UnsafeIndexError: Something other than a folder (a symlink) has its name.
    """
    folder = path / name
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        if not create:
            return None
        os.makedirs(folder, exist_ok=True)
        st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise _not_ours(folder, st, want="a folder")
    return folder


def _not_ours(path: Path, st: os.stat_result, *, want: str = "a regular file") -> UnsafeIndexError:
    kind = "a symlink" if stat.S_ISLNK(st.st_mode) else f"not {want}"
    return UnsafeIndexError(
        f"index file {path} is {kind}; explorer never writes, reads or deletes through it. "
        f"Remove it (explorer will recreate what it needs)"
    )


# ---------------------------------------------------------------- opening files


def open_read(path: Path) -> BinaryIO:
    """Open an index file for reading, refusing symlinks and anything not a regular file.

    Raises:
        FileNotFoundError: It does not exist.
        UnsafeIndexError: It is a symlink, a FIFO, a device or a folder.
    """
    fd = _open_regular(path, os.O_RDONLY)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: Path) -> bytes:
    """The bytes of an index file (see :func:`open_read`)."""
    with open_read(path) as fh:
        return fh.read()


def open_append(path: Path) -> int:
    """A file descriptor appending to an index file, created if missing, never through a link.

    Raises:
        UnsafeIndexError: ``path`` is a symlink or not a regular file.
    """
    return _open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)


def remove_file(path: Path) -> None:
    """Delete one index file (a regular file or a stray symlink, never what a link points to)."""
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        os.unlink(path)  # unlink never follows a symlink; a folder of that name stays


# ---------------------------------------------------------------- the lock


@contextlib.contextmanager
def lock_index(path: Path, *, command: str) -> Iterator[None]:
    """Hold the index's writer lock for the duration of the block.

    Claims the folder first (:func:`claim_folder`). The lock is an ``flock`` on
    ``<index>/lock``, opened without following symlinks, so the kernel releases
    it when the holder dies: a lock left by a killed process never blocks anyone.

    Raises:
        IndexLockedError: If another process holds it (names that process).
        UnsafeIndexError: The folder is not an index, or ``lock`` is a symlink.
    """
    claim_folder(path)
    lock_path = path / LOCK
    fd = _open_lock(lock_path)
    try:
        _flock_or_fail(fd, fcntl.LOCK_EX, path)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, f"pid {os.getpid()} ({command}, since {time.strftime('%H:%M:%S')})".encode(), 0
        )
        yield
    finally:
        os.close(fd)


def check_unlocked(path: Path) -> None:
    """Fail at once if a writer holds the index (before a reader spends time on it).

    Raises:
        IndexLockedError: If another process holds the writer lock.
    """
    lock_path = path / LOCK
    try:
        fd = os.open(lock_path, os.O_RDONLY | NOFOLLOW | NONBLOCK | CLOEXEC)
    except OSError:
        return  # no lock file (or not ours): nobody writes through it
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        _flock_or_fail(fd, fcntl.LOCK_SH, path)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _flock_or_fail(fd: int, mode: int, path: Path) -> None:
    """Take ``flock`` ``mode`` on the lock file ``fd`` without waiting.

    Raises:
        IndexLockedError: A writer holds it (named by what it wrote in the file).
    """
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        raise IndexLockedError(
            f"the index at {path} is being written by {holder}; wait for it to finish"
        ) from None


def _open_lock(lock_path: Path) -> int:
    return _open_regular(lock_path, os.O_RDWR | os.O_CREAT)


def _open_regular(path: Path, flags: int) -> int:
    """:func:`explorer.fs.open_regular`, refusing a symlink or special file as not the index's.

    Raises:
        UnsafeIndexError: ``path`` is a symlink, a FIFO, a device or a folder.
    """
    try:
        return open_regular(path, flags)
    except NotRegularFileError as exc:
        raise _not_ours(path, exc.st) from None


# ---------------------------------------------------------------- files for the user


def write_output(out: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file the user asked for (``--out``, ``--save``).

    - A new file is created atomically with the usual mode (0666 less the umask),
      its folder created if needed.
    - An existing regular file is replaced atomically and keeps its mode; a
      symlink is followed, so the file it points to is the one replaced.
    - An existing device, FIFO or socket (``/dev/null``, ``/dev/stdout``) is
      written through, never replaced.
    - A path inside an index folder is refused (the index deletes what it did
      not write), except directly in its ``reports/`` folder, which no commit touches.

    Returns:
        ``out``.

    Raises:
        UsageError: ``out`` is a folder, or lies inside an index folder.
    """
    target, st = _output_target(Path(out))
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(target, "wb", buffering=0) as fh:  # a device or FIFO: write through it
            write(fh)
        return out
    target.parent.mkdir(parents=True, exist_ok=True)
    keep = stat.S_IMODE(st.st_mode) if st is not None else None
    atomic_write(target, write, mode=0o666, keep_mode=keep)
    return out


def check_output(out: Path) -> None:
    """Refuse, before any work, an output path :func:`write_output` would refuse.

    Raises:
        UsageError: ``out`` is a folder, or lies inside an index folder.
    """
    _output_target(Path(out))


def _output_target(out: Path) -> tuple[Path, os.stat_result | None]:
    if str(out).startswith(("/dev/", "/proc/")):
        # /dev/stdout resolves to whatever fd 1 is; write through it, whatever it is
        return out, os.stat(out)
    target = Path(os.path.realpath(out))
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--out {out} is a folder; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return target, st
    for folder in target.parents:
        if is_index_folder(folder) and target.parent != folder / REPORTS:
            raise UsageError(
                f"--out {out} lies inside the index folder {folder}, which holds only the "
                "index's own files; write it elsewhere"
            )
    return target, st


def write_output_bytes(out: Path, data: bytes) -> Path:
    """:func:`write_output` of ``data``."""

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    return write_output(out, write)
