"""INPUTS.md end to end: a folder with every hostile case, built by the real CLI process.

The loader's own tests (test_images.py) check each case in depth; this one checks
that ``explorer build`` indexes every readable image, skips everything else with
its reason, lists the skips in ``explorer info``, and exits 0.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import BLUE, HOSTILE, RED, bomb_png, encode, jpeg, oriented_jpeg, png


def _heif(colour: tuple[int, int, int], fmt: str) -> bytes:
    """A HEIC (through pillow-heif) or AVIF (Pillow's plugin) file."""
    from explorer.inputs.formats import register_formats

    assert register_formats()
    return encode(Image.new("RGB", (64, 48), colour), fmt, quality=80)


def _damaged(data: bytes) -> bytes:
    """The same file with 64 zero bytes in the middle of its payload."""
    middle = len(data) // 2
    return data[:middle] + bytes(64) + data[middle + 64 :]


def _folder(root: Path) -> tuple[set[str], dict[str, str], int]:
    """Make every case; return (expected indexed paths, expected skips, ignored count)."""
    root.mkdir()
    sub = root / "nested" / "deeper"
    sub.mkdir(parents=True)
    files: dict[str, bytes] = {
        "plain.png": png(RED),
        "png-named.jpg": png(BLUE),
        "jpeg-named.png": jpeg(RED),
        "UPPER.JPG": jpeg(BLUE),
        "with space & 'quotes\".png": png(RED),
        HOSTILE: jpeg(RED),
        "one-pixel.png": png(RED, (1, 1)),
        "thin.png": png(BLUE, (1000, 3)),
        "rotated.jpg": oriented_jpeg(6),
        "rgba.png": encode(Image.new("RGBA", (20, 20), (255, 0, 0, 0)), "PNG"),
        "cmyk.jpg": encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG"),
        "grey16.png": encode(Image.new("I;16", (20, 20), 40000), "PNG"),
        "animated.gif": b"",
        "nested/deeper/deep.png": png(BLUE),
        "empty.jpg": b"",
        "text.jpg": b"just some text, not an image",
        "random.png": os.urandom(300),
        "truncated.jpg": jpeg(RED, (200, 200))[:300],
        "bomb.png": bomb_png(),
        "IMG_0001.HEIC": _heif(RED, "HEIF"),
        "export.avif": _heif(BLUE, "AVIF"),
        "cut.heic": _heif(BLUE, "HEIF")[:200],
        "damaged.avif": _damaged(_heif(RED, "AVIF")),
        "notes.txt": b"ignored",
        "meta.json": b"{}",
        ".hidden.png": png(RED),
    }
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, BLUE)]
    buf = root / "animated.gif"
    for name, data in files.items():
        (root / name).write_bytes(data)
    frames[0].save(buf, save_all=True, append_images=frames[1:])
    (root / ".hidden-dir").mkdir()
    (root / ".hidden-dir" / "x.png").write_bytes(png(RED))
    non_utf8 = os.fsencode(str(root)) + b"/caf\xe9.png"
    with open(non_utf8, "wb") as fh:
        fh.write(png(BLUE))
    os.link(root / "plain.png", root / "hardlink.png")
    (root / "plain-copy.png").write_bytes(files["plain.png"])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "socket.jpg"))
    server.close()  # the socket file stays in the folder
    (root / "dangling.jpg").symlink_to(root / "missing.jpg")
    os.mkfifo(root / "fifo.jpg")
    (root / "nested" / "loop").symlink_to(root)
    indexed = {
        n
        for n, d in files.items()
        if d
        and n
        not in {
            "text.jpg",
            "random.png",
            "truncated.jpg",
            "bomb.png",
            "cut.heic",
            "damaged.avif",
            "notes.txt",
            "meta.json",
            ".hidden.png",
        }
    } | {"animated.gif", "hardlink.png", "plain-copy.png", os.fsdecode(b"caf\xe9.png")}
    skips = {
        "empty.jpg": "empty_file",
        "text.jpg": "not_an_image",
        "random.png": "not_an_image",
        "truncated.jpg": "truncated",
        "bomb.png": "too_large",
        "cut.heic": "truncated",
        "damaged.avif": "decode_error",
        "dangling.jpg": "dangling_link",
        "fifo.jpg": "not_regular_file",
        "socket.jpg": "not_regular_file",
    }
    return indexed, skips, 2


def _explorer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the real ``explorer`` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.slow
def test_every_input_case_through_the_cli(tmp_path: Path) -> None:
    indexed, skips, ignored = _folder(tmp_path / "photos")
    env = {**os.environ, "EXPLORER_INDEX": str(tmp_path / "idx")}
    build = _explorer("build", str(tmp_path / "photos"), "--backbone", "pixels", "--json", env=env)
    assert build.returncode == 0, build.stderr
    summary = json.loads(build.stdout)
    assert summary["indexed"] == len(indexed)
    assert summary["ignored"] == ignored
    assert summary["skipped"] == {r: list(skips.values()).count(r) for r in set(skips.values())}
    info = _explorer("info", "--skipped", "--json", env=env)
    data = json.loads(info.stdout)
    assert data["images"] == len(indexed)
    assert {s["path"]: s["reason"] for s in data["skipped_files"]} == skips
    from explorer.store.index import Index

    records = {r.path for r in Index(tmp_path / "idx").records}
    assert records == indexed  # exact, including the non-UTF-8 and the hostile name
    # the human listing names each skipped file with its reason
    human = _explorer("info", "--skipped", env=env)
    assert human.returncode == 0
    assert all(f"{reason:<16} {name}" in human.stdout for name, reason in skips.items())
    # the same bytes under three names (a hard link, a copy) are reported as exact duplicates
    dups = _explorer("duplicates", "--json", env=env)
    assert dups.returncode == 0, dups.stderr
    exact = [
        sorted(Path(m["path"]).name for m in g["members"] if m["exact"])
        for g in json.loads(dups.stdout)["groups"]
    ]
    # (several other cases are made from the same bytes, so they join the group too)
    assert any({"hardlink.png", "plain-copy.png", "plain.png"} <= set(g) for g in exact)
