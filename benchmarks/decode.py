"""Where a build's CPU goes besides the network, and the seed project's own loop.

``stage_costs``: CPU milliseconds per image of each step of
``explorer.inputs.decode.load_image``, run one file at a time in one thread and timed
with ``time.process_time`` (CPU time, less sensitive to other load on a shared
machine than wall-clock time). The steps are the loader's own private helpers,
called in the same order, so the sum is what one decoding thread spends.

``seed_loop``: what a user of the seed project runs instead of explorer: per
image, Keras ``load_img(path, target_size=(224, 224))``, ``img_to_array``,
``preprocess_input`` and one ``model.predict`` of VGG16 cut at ``fc2``.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from explorer.inputs import decode as images

STAGES = (
    "read",
    "sha256",
    "decode",
    "exif",
    "to_rgb",
    "reduce",
    "model_resize",
    "thumbnail_resize",
    "webp_encode",
    "capture",
)


def _marker(marks: list[float]) -> Callable[[], None]:
    return lambda: marks.append(time.process_time())


def stage_costs(paths: Sequence[Path]) -> dict[str, Any]:
    """CPU ms per image of each loading step over ``paths`` (unreadable files left out)."""
    from explorer.inputs.capture import capture_from_exif

    size, side = images.MODEL_INPUT_SIZE, images.THUMBNAIL_SIZE
    spent = dict.fromkeys(STAGES, 0.0)
    done = 0
    for path in paths:
        marks = [time.process_time()]
        mark = _marker(marks)

        try:
            data, st = images._read_file(path)
            mark()
            hashlib.sha256(data).hexdigest()
            mark()
            im = images._open_image(data)
            if im.format in ("JPEG", "MPO"):
                im.draft(None, (max(size, side), max(size, side)))
            im.load()
            mark()
            exif = images._exif(im)
            method = images._orientation(exif)
            mark()
            rgb = images._to_rgb(im)
            if method is not None:
                rgb = rgb.transpose(method)
            mark()
            base, box = images._reduce(rgb, size)
            mark()
            np.array(base.resize((size, size), Image.Resampling.LANCZOS, box=box), np.uint8)
            mark()
            scale = min(side / rgb.width, side / rgb.height, 1.0)
            tsize = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
            thumb = base.resize(tsize, Image.Resampling.LANCZOS, box=box, reducing_gap=1.0)
            mark()
            images._encode_thumbnail(thumb, (0.0, 0.0, *thumb.size), *thumb.size, side)
            mark()
            capture_from_exif(exif, mtime_ns=st.st_mtime_ns)
            mark()
        except Exception:  # a file the build would skip costs it nothing here
            continue
        for name, (a, b) in zip(STAGES, itertools.pairwise(marks), strict=True):
            spent[name] += b - a
        done += 1
    total = sum(spent.values())
    # Whole-call check: load_image itself over the same files.
    start = time.process_time()
    for path in paths:
        images.load_image(path)
    whole = (time.process_time() - start) / max(1, len(paths))
    return {
        "images": done,
        "cpu_ms_per_image": {k: round(1000 * v / max(1, done), 2) for k, v in spent.items()},
        "cpu_ms_per_image_total": round(1000 * total / max(1, done), 2),
        "load_image_cpu_ms_per_image": round(1000 * whole, 2),
    }


def seed_loop(paths: Sequence[Path], *, warmup: int = 1) -> dict[str, Any]:
    """Images/s of the seed project's per-image Keras loop (VGG16 fc2, random weights).

    Random weights cost the same to run as ImageNet's; nothing is downloaded.
    The model build and ``warmup`` untimed images come first.
    """
    import keras
    from keras.applications.vgg16 import VGG16, preprocess_input

    base = VGG16(weights=None, include_top=True)
    model = keras.Model(inputs=base.input, outputs=base.get_layer("fc2").output)

    def one(path: Path) -> np.ndarray:
        img = keras.utils.load_img(path, target_size=(224, 224))
        x = keras.utils.img_to_array(img)
        x = np.expand_dims(x, axis=0)
        x = preprocess_input(x)
        return np.asarray(model.predict(x, verbose=0)).flatten()

    for path in paths[:warmup]:
        one(path)
    cpu, start = time.process_time(), time.perf_counter()
    for path in paths:
        one(path)
    seconds = time.perf_counter() - start
    return {
        "images": len(paths),
        "seconds": round(seconds, 3),
        "images_per_s": round(len(paths) / seconds, 3),
        "cpu_s_per_image": round((time.process_time() - cpu) / len(paths), 3),
    }


SKIMAGE_DATA = Path("/usr/lib/python3/dist-packages/skimage/data")  # Debian's python3-skimage


def make_camera_jpegs(dest: Path, n: int, *, source: Path = SKIMAGE_DATA, seed: int = 0) -> int:
    """Write ``n`` distinct 2400x1800 JPEGs (quality 90) made from real photos.

    Each is a different crop of one of scikit-image's sample photos, enlarged
    to 2400x1800 and given a little sensor-like grain, so that it costs what a
    camera file of that size costs to decode (a smooth enlargement would
    compress, and decode, far cheaper). Returns the number written.
    """
    rng = np.random.default_rng(seed)
    photos = []
    for path in sorted(source.glob("*.png")) + sorted(source.glob("*.jpg")):
        try:
            with Image.open(path) as im:
                im.load()
                if min(im.size) >= 300 and im.mode in ("RGB", "RGBA", "L"):
                    photos.append(im.convert("RGB"))
        except Exception:  # an unreadable sample is simply not used
            continue
    if not photos:
        raise SystemExit(f"no usable photo under {source}")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        im = photos[i % len(photos)]
        w, h = im.size
        crop = (
            int(rng.integers(0, w // 8 + 1)),
            int(rng.integers(0, h // 8 + 1)),
            w - int(rng.integers(0, w // 8 + 1)),
            h - int(rng.integers(0, h // 8 + 1)),
        )
        big = np.asarray(im.crop(crop).resize((2400, 1800), Image.Resampling.BICUBIC), np.float32)
        big += rng.normal(0, 4, big.shape)
        Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(
            dest / f"cam-{i:04d}.jpg", quality=90
        )
    return n


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        raise SystemExit("usage: python benchmarks/decode.py DEST N  (writes N 2400x1800 JPEGs)")
    print(make_camera_jpegs(Path(sys.argv[1]), int(sys.argv[2])), "JPEGs in", sys.argv[1])
