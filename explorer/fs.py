"""File primitives every layer may use: atomic writes, safe opens, SHA-256 digests.

- :func:`atomic_write` is the one way explorer replaces a file: a temp file in
  the same folder (created exclusively, never through a symlink), fsync of the
  file, rename over the target, fsync of the folder. A crash leaves the old
  file or the new one, never a mix; on any error the temp file is removed.
- :func:`open_regular` opens a file without following a symlink and without
  blocking on a FIFO, and admits only a regular file.
- :func:`sha256_hex`, :func:`stream_sha256` and :func:`file_sha256` are the
  digests explorer records (image files, index files, weights).

The rules of the index folder (what may be written or deleted there) live in
:mod:`explorer.store.folder`, built on these.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from explorer import faults

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)

TEMP_NAME = re.compile(r"\.(?P<name>.+)\.tmp-\d+-[0-9a-f]{8}")
"""The name of :func:`atomic_write`'s temp file for the file ``name``."""

_BLOCK = 1 << 22  # bytes read at a time when hashing a file


class NotRegularFileError(OSError):
    """A path that :func:`open_regular` refuses: a symlink, FIFO, device or folder."""

    def __init__(self, path: Path, st: os.stat_result) -> None:
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        super().__init__(errno.EINVAL, f"{path} is {kind}")
        self.path = path
        self.st = st


# ---------------------------------------------------------------- atomic writes


def atomic_write(
    path: Path,
    write: Callable[[BinaryIO], object],
    *,
    mode: int = 0o644,
    keep_mode: int | None = None,
) -> None:
    """Replace ``path`` atomically with what ``write`` writes to a binary file.

    The temp file is created exclusively and without following symlinks, and
    the rename replaces the directory entry itself: a symlink at ``path`` is
    replaced, never written through. The file and then its folder are fsynced,
    so a power loss after return keeps the new content.

    Args:
        path: The file to create or replace.
        write: Called once with the open temp file.
        mode: Permission bits of a new file (less the umask).
        keep_mode: Exact permission bits to give the file instead (those of
            the file being replaced).

    Raises:
        OSError: The file could not be written; ``path`` is untouched and no
            temp file is left.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, mode)
        with os.fdopen(fd, "wb") as fh:
            if keep_mode is not None:
                os.fchmod(fh.fileno(), keep_mode)
            write(fh)
            fh.flush()
            faults.point("write")  # a kill here leaves a full temp file, never renamed
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """:func:`atomic_write` of ``data``."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` of ``text`` as UTF-8 (lone surrogates from file names kept as bytes)."""
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename, a new file) to disk; best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- opening files


def open_regular(path: Path, flags: int) -> int:
    """``os.open`` that never follows a symlink, never blocks on a FIFO, and admits only
    a regular file (created 0644 with ``O_CREAT``).

    The descriptor is non-blocking; :func:`os.set_blocking` turns that off.

    Raises:
        NotRegularFileError: ``path`` is a symlink, a FIFO, a device or a folder.
        FileNotFoundError: It does not exist (and ``O_CREAT`` was not given).
    """
    try:
        fd = os.open(path, flags | NOFOLLOW | NONBLOCK | CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise NotRegularFileError(path, os.lstat(path)) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFileError(path, st)
    return fd


# ---------------------------------------------------------------- digests


def sha256_hex(data: bytes | memoryview) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def stream_sha256(fh: BinaryIO) -> str:
    """Hex SHA-256 of the rest of an open file, read in blocks (never whole in memory)."""
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(_BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    with path.open("rb") as fh:
        return stream_sha256(fh)
