"""explorer.fs: the one atomic write, the regular-file open and the digests."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

from explorer import fs


def test_atomic_write_replaces_a_symlink_never_writes_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    link = tmp_path / "out"
    link.symlink_to(victim)
    fs.atomic_write_bytes(link, b"new")
    assert victim.read_bytes() == b"keep me"
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim"]


def test_atomic_write_leaves_the_old_file_and_no_temp_on_error(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")

    def fails_half_way(fh: object) -> None:
        fh.write(b"half")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        fs.atomic_write(target, fails_half_way)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_modes_of_new_and_replaced_files(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        fs.atomic_write_bytes(tmp_path / "a", b"x")
        fs.atomic_write(tmp_path / "b", lambda fh: fh.write(b"x"), mode=0o666)
        fs.atomic_write(tmp_path / "c", lambda fh: fh.write(b"x"), keep_mode=0o600)
    finally:
        os.umask(umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"a": 0o644, "b": 0o644, "c": 0o600}


def test_text_keeps_surrogate_escaped_file_names_byte_for_byte(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.jpg")  # not UTF-8: a lone surrogate in the str
    fs.atomic_write_text(tmp_path / "j.json", f'["{name}"]')
    assert (tmp_path / "j.json").read_bytes() == b'["caf\xe9.jpg"]'


def test_open_regular_refuses_links_fifos_and_folders(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_bytes(b"abc")
    fd = fs.open_regular(regular, os.O_RDONLY)
    os.close(fd)
    (tmp_path / "link").symlink_to(regular)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for name in ("link", "fifo", "dir"):
        with pytest.raises(fs.NotRegularFileError) as info:
            fs.open_regular(tmp_path / name, os.O_RDONLY)  # a FIFO would block a plain open
        assert info.value.path == tmp_path / name
    with pytest.raises(FileNotFoundError):
        fs.open_regular(tmp_path / "missing", os.O_RDONLY)


def test_the_three_digests_agree_with_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 22) + 5)  # more than one read block
    path = tmp_path / "blob"
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    with path.open("rb") as fh:
        assert fs.sha256_hex(data) == fs.file_sha256(path) == fs.stream_sha256(fh) == want
