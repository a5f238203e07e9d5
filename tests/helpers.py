"""Builders the test files share: images and folders made with Pillow, a fake backbone, the CLI.

Fixtures stay in ``conftest.py`` (``families``, ``fake_backbone``); what a
test imports by name lives here, so no test file imports another.
"""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image

from explorer.features import registry as backbones
from explorer.features.base import BackboneInfo, BackboneSpec, Embedding, WeightsRef

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
HOSTILE = "<img src=x onerror=alert(1)>.jpg"  # a file name that is also HTML

# ---------------------------------------------------------------- encoded images


def encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    """``im`` saved as ``fmt`` (Pillow's format name) with Pillow's save ``params``."""
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, making its folder; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def png(colour: tuple[int, int, int] = RED, size: tuple[int, int] = (32, 24)) -> bytes:
    return encode(Image.new("RGB", size, colour), "PNG")


def jpeg(colour: tuple[int, int, int] = BLUE, size: tuple[int, int] = (32, 24)) -> bytes:
    return encode(Image.new("RGB", size, colour), "JPEG")


def bomb_png() -> bytes:
    """A valid 1x1 PNG whose IHDR then claims 20000 x 20000 pixels (CRC fixed)."""
    data = bytearray(png(RED, (1, 1)))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", 20_000, 20_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def oriented_jpeg(orientation: int) -> bytes:
    """40 x 20 stored pixels, top-left quadrant red, the rest blue, EXIF ``orientation``."""
    im = Image.new("RGB", (40, 20), BLUE)
    im.paste(RED, (0, 0, 20, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, "JPEG", quality=95, exif=exif.tobytes())


def close_to(pixel: Any, colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    """Whether an RGB ``pixel`` is within ``tolerance`` of ``colour`` in every channel."""
    return bool(np.all(np.abs(np.asarray(pixel, dtype=int) - np.asarray(colour)) <= tolerance))


def name_bytes(max_size: int) -> st.SearchStrategy[bytes]:
    """File names as bytes (``st.text()`` excludes surrogates): no slash, no NUL, not hidden."""
    return st.binary(min_size=1, max_size=max_size).filter(
        lambda b: b"/" not in b and b"\0" not in b and not b.startswith(b".")
    )


# ---------------------------------------------------------------- photo folders

FAMILIES = {"red": (200, 30, 30), "green": (30, 170, 60), "blue": (40, 60, 210)}


def make_family_image(path: Path, colour: tuple[int, int, int], seed: int, size: int = 96) -> Path:
    """A noisy image dominated by ``colour``, with a bright square placed by ``seed``."""
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.float32)
    pixels = base + rng.normal(0, 18, (size, size, 3))
    x, y = rng.integers(0, size // 2, 2)
    pixels[y : y + size // 3, x : x + size // 3] = base * 0.5 + 120
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return path


def family_images(
    root: Path, n: int, *, first_seed: int = 0, digits: int = 1, nested_every: int = 0
) -> Path:
    """``n`` images in ``root`` cycling through FAMILIES: ``red-0.png``, ``green-1.png``, ...

    Args:
        root: the folder, made if missing.
        n: how many images.
        first_seed: image ``i`` gets seed ``first_seed + i``.
        digits: ``i`` is zero-padded to this many digits (``red-00.png``).
        nested_every: when > 0, every image whose ``i`` is a multiple goes in ``root/sub``.
    """
    root.mkdir(parents=True, exist_ok=True)
    families = list(FAMILIES.items())
    for i in range(n):
        name, colour = families[i % len(families)]
        folder = root / "sub" if nested_every and i % nested_every == 0 else root
        folder.mkdir(exist_ok=True)
        make_family_image(folder / f"{name}-{i:0{digits}d}.png", colour, seed=first_seed + i)
    return root


CATALOG_COLOURS = {
    "red": (210, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 70, 210),
    "yellow": (220, 200, 40),
}


def grid_image(colour: tuple[int, int, int], seed: int, size: int = 256) -> Image.Image:
    """An 8x8 grid of colours near ``colour``, with fine grain like a photo."""
    rng = np.random.default_rng(seed)
    grid = np.array(colour, dtype=np.float32) + rng.normal(0, 60, (8, 8, 3))
    big = np.repeat(np.repeat(grid, size // 8, axis=0), size // 8, axis=1)
    big += rng.normal(0, 6, big.shape)
    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8))


def make_catalog_photos(root: Path) -> Path:
    """Four colour families of four distinct JPEGs, plus three known duplicate groups."""
    root.mkdir(parents=True)
    for f, (name, colour) in enumerate(CATALOG_COLOURS.items()):
        for i in range(4):
            grid_image(colour, seed=100 * f + i).save(root / f"{name}-{i}.jpg", quality=95)
    red = Image.open(root / "red-0.jpg")
    red.resize((128, 128), Image.Resampling.LANCZOS).save(root / "red-0-small.jpg", quality=95)
    red.save(root / "red-0-q40.jpg", quality=40)
    blue = Image.open(root / "blue-1.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": store the pixels turned the other way
    blue.transpose(Image.Transpose.ROTATE_90).save(
        root / "blue-1-exif6.jpg", quality=80, exif=exif.tobytes()
    )
    shutil.copy(root / "green-2.jpg", root / "green-2-copy.jpg")
    os.utime(root / "green-2-copy.jpg", ns=(2_000_000_000_000_000_000,) * 2)  # the newer one
    return root


# ---------------------------------------------------------------- a fake backbone

_CLASS_MIX = np.random.default_rng(0).normal(size=(192, 1000)).astype(np.float32)


class FakeBackbone:
    """A cheap deterministic backbone: 8x8 mean colours plus fake class probabilities."""

    batch_size = 4

    def __init__(self, weights: str = "fake-weights") -> None:
        self.info = BackboneInfo("fake", "pool8", 192, weights, f"sha-{weights}")
        self.calls = 0

    def embed(self, pixels: NDArray[np.uint8]) -> Embedding:
        self.calls += 1
        n = pixels.shape[0]
        x = pixels.astype(np.float32).reshape(n, 8, 28, 8, 28, 3).mean(axis=(2, 4)) / 255.0
        feats = x.reshape(n, -1)
        logits = feats @ _CLASS_MIX * 4
        probs = np.exp(logits - logits.max(1, keepdims=True))
        return Embedding(feats, (probs / probs.sum(1, keepdims=True)).astype(np.float32))


class Loads:
    """Counts how often the fake backbone was built, and how many images it saw."""

    def __init__(self) -> None:
        self.builds = 0
        self.images = 0
        self.fail_after: int | None = None


def register_fake_backbone(monkeypatch: pytest.MonkeyPatch) -> Loads:
    """Register backbone ``fake`` (needs weights; any name is accepted as weights).

    Setting ``fail_after`` on the returned counter makes the backbone raise
    KeyboardInterrupt once it has seen that many images.
    """
    loads = Loads()

    def build(ref: WeightsRef, seed: int) -> FakeBackbone:
        loads.builds += 1
        bb = FakeBackbone(os.path.basename(ref.source))
        original = bb.embed

        def embed(pixels: NDArray[np.uint8]) -> Embedding:
            if loads.fail_after is not None and loads.images >= loads.fail_after:
                raise KeyboardInterrupt
            loads.images += len(pixels)
            return original(pixels)

        bb.embed = embed  # type: ignore[method-assign]
        return bb

    def resolve(spec: str, *, seed: int = 0) -> WeightsRef:
        return WeightsRef(spec, f"sha-{os.path.basename(spec)}")

    spec = BackboneSpec("fake", "pool8", 192, "test backbone", True, build)
    monkeypatch.setitem(backbones.BACKBONES, "fake", spec)
    monkeypatch.setattr(backbones, "resolve_weights", resolve)
    return loads


# ---------------------------------------------------------------- the CLI and the index


def cli(*args: str) -> tuple[int, str, str]:
    """``explorer ARGS`` in this process (typer's CliRunner): exit code, stdout, stderr."""
    from typer.testing import CliRunner

    from explorer.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def build_fake_index(folder: Path, index: Path) -> None:
    """``explorer build FOLDER --index INDEX --backbone fake -q``, asserting it succeeds."""
    code, _, err = cli("build", str(folder), "--index", str(index), "--backbone", "fake", "-q")
    assert code == 0, err


def _hold_lock(path: str, command: str, ready: Event, done: Event) -> None:
    from explorer.store.folder import lock_index

    with lock_index(Path(path), command=command):
        ready.set()
        done.wait(30)


@contextmanager
def lock_held_elsewhere(index: Path, *, command: str) -> Iterator[BaseProcess]:
    """Another process holds ``index``'s writer lock as ``command`` during the block.

    Yields the holder, already holding the lock (a test may kill it); on leaving,
    a holder still running is told to let go, and joined.
    """
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(index), command, ready, done))
    holder.start()
    try:
        assert ready.wait(10), "the holder did not take the lock"
        yield holder
    finally:
        if holder.is_alive():  # a killed holder never acknowledges done.set(): it would hang
            done.set()
        holder.join(10)


def fill_disk_at_manifest(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make the commit's write of ``manifest.json`` fail with ENOSPC; returns the real writer."""
    from explorer.store import commit

    real = commit.atomic_write

    def full(path: Path, write: object) -> None:
        if path.name == "manifest.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, write)  # type: ignore[arg-type]

    monkeypatch.setattr(commit, "atomic_write", full)
    return real
