#!/usr/bin/env python3
"""Rebuild ``data/sample/`` and ``tests/data/clipart/`` from public-domain sources.

Both folders are checked in; this script exists so that anyone can see exactly
where every pixel came from and regenerate them byte for byte.

Sources (both available offline, neither made by this project):

* Debian's ``openclipart-png`` package (0.18, public-domain clip art), installed
  under ``/usr/share/openclipart/png`` by ``apt-get install openclipart-png``.
* The sample photos bundled in the scikit-image 0.26.0 wheel (``skimage/data``),
  read straight out of the wheel file, without installing it::

      pip download --no-deps scikit-image==0.26.0 -d /tmp/skimg

Usage (standard library + Pillow only)::

    .venv/bin/python data/make_sample.py                 # both folders
    .venv/bin/python data/make_sample.py --only sample   # just data/sample
    .venv/bin/python data/make_sample.py --only clipart  # just tests/data/clipart
    .venv/bin/python data/make_sample.py --skimage-wheel path/to/scikit_image-0.26.0-....whl

What it does to each image:

* clip art (RGBA PNG): trims the fully transparent page margin around the drawing
  (keeping a 4 % border), shrinks it so that the longest side is at most 320 px
  (160 px for the test clip art) and saves it as an optimised PNG, transparency kept;
* photos: shrinks them to a longest side of 320 px and saves them as JPEG quality 85
  (the grayscale ``camera`` photo stays a one-channel grayscale JPEG);
* near-duplicates: derived from the processed images (see ``NEAR_DUPLICATES``).

Every source file is checked against the SHA-256 prefix recorded below before anything
is written; a mismatch (another package version) stops the run unless ``--no-verify``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "data" / "sample"
CLIPART_DIR = REPO / "tests" / "data" / "clipart"

OPENCLIPART_ROOT = Path("/usr/share/openclipart/png")
SKIMAGE_VERSION = "0.26.0"
SKIMAGE_WHEEL_GLOB = f"/tmp/skimg/scikit_image-{SKIMAGE_VERSION}-*.whl"

SAMPLE_MAX_SIDE = 320
CLIPART_MAX_SIDE = 160
JPEG_QUALITY = 85
TRIM_BORDER = 0.04  # fraction of the drawing's longest side kept around it

# --------------------------------------------------------------------------------------
# data/sample: (output file name, source). Clip art paths are relative to
# OPENCLIPART_ROOT; "skimage:NAME" is skimage/data/NAME inside the scikit-image wheel.
# --------------------------------------------------------------------------------------
SAMPLE: list[tuple[str, str]] = [
    # animals: cats and dogs (clip art)
    ("animals-cat-01.png", "animals/mammals/housecats/gatto_cat_architetto_fra_01.png"),
    ("animals-cat-02.png", "animals/mammals/housecats/gatto_cat_architetto_fra_03.png"),
    ("animals-cat-03.png", "animals/mammals/housecats/gatto_cat_architetto_fra_04.png"),
    ("animals-cat-04.png", "animals/mammals/housecats/kitten_gerald_g._01.png"),
    ("animals-dog-01.png", "animals/mammals/dogs/beagle_copper_ganson.png"),
    ("animals-dog-02.png", "animals/mammals/dogs/black_lab_ganson.png"),
    ("animals-dog-03.png", "animals/mammals/dogs/bulldog_puppy_ganson.png"),
    # food: fruit (clip art)
    ("food-apple-01.png", "food/fruit/an_apple_01.png"),
    ("food-apple-02.png", "food/fruit/apple.png"),
    ("food-banana-01.png", "food/fruit/banana.png"),
    ("food-cherries-01.png", "food/fruit/cherries.png"),
    ("food-grapes-01.png", "food/fruit/grapes_simple.png"),
    ("food-lemon-01.png", "food/fruit/lemon.png"),
    ("food-orange-01.png", "food/fruit/orange.png"),
    # buildings: houses (clip art)
    ("buildings-house-01.png", "buildings/homes/home12.png"),
    ("buildings-house-02.png", "buildings/homes/home14.png"),
    ("buildings-house-03.png", "buildings/homes/home3.png"),
    ("buildings-house-04.png", "buildings/homes/home6.png"),
    ("buildings-house-05.png", "buildings/homes/house.png"),
    ("buildings-house-06.png", "buildings/homes/house_christoph_brill_01.png"),
    # transport: buses, a car, planes, a bicycle (clip art)
    ("transport-bus-01.png", "transportation/vehicles/bus1_jarno_vasamaa_01.png"),
    ("transport-bus-02.png", "transportation/vehicles/bus2_jarno_vasamaa_01.png"),
    ("transport-car-01.png", "transportation/vehicles/car.png"),
    ("transport-plane-01.png", "transportation/vehicles/aircraft_jarno_vasamaa1.png"),
    ("transport-plane-02.png", "transportation/vehicles/aircraft_jarno_vasamaa2.png"),
    ("transport-bicycle-01.png", "transportation/vehicles/bicycle_01.png"),
    # plants: flowers (clip art)
    ("plants-daffodil-01.png", "plants/flowers/daffodil_jonathan_dietri_01.png"),
    ("plants-daisies-01.png", "plants/flowers/flowers_jonathan_dietric_01.png"),
    ("plants-flower-01.png", "plants/flowers/flower_01.png"),
    ("plants-flower-02.png", "plants/flowers/flower_peterm_01.png"),
    ("plants-flower-03.png", "plants/flowers/red_flower_01.png"),
    ("plants-tulips-01.png", "plants/flowers/tulips_ganson.png"),
    # photos: real photographs bundled with scikit-image
    ("photos-cat-01.jpg", "skimage:chelsea.png"),
    ("photos-coffee-01.jpg", "skimage:coffee.png"),
    ("photos-astronaut-01.jpg", "skimage:astronaut.png"),
    ("photos-rocket-01.jpg", "skimage:rocket.jpg"),
    ("photos-galaxies-01.jpg", "skimage:hubble_deep_field.jpg"),
    ("photos-camera-01.jpg", "skimage:camera.png"),
]

# (derived file, made from, how). The "how" keys are the functions in DERIVE below.
NEAR_DUPLICATES: list[tuple[str, str, str]] = [
    ("photos-cat-01-lowq.jpg", "photos-cat-01.jpg", "jpeg-quality-15"),
    ("photos-coffee-01-small.jpg", "photos-coffee-01.jpg", "resize-128"),
    ("photos-rocket-01-crop.jpg", "photos-rocket-01.jpg", "crop-6pct"),
    ("food-apple-02-small.png", "food-apple-02.png", "resize-96"),
    ("animals-dog-01-crop.png", "animals-dog-01.png", "crop-right-bottom-10pct"),
    ("buildings-house-01-copy.png", "buildings-house-01.png", "byte-copy"),
]

# --------------------------------------------------------------------------------------
# tests/data/clipart: 8 visually coherent categories x 10 openclipart images, 160 px.
# Output name: tests/data/clipart/<category>/<source stem, lower-cased, [a-z0-9_-]>.png
# --------------------------------------------------------------------------------------
CLIPART: dict[str, list[str]] = {
    "clocks": [
        "signs_and_symbols/clocks/alarm_clock_gerald_g._01.png",
        "signs_and_symbols/clocks/alarm_clock_mike_powers_.png",
        "signs_and_symbols/clocks/analog_clock_jonathan_di_01.png",
        "signs_and_symbols/clocks/clock01.png",
        "signs_and_symbols/clocks/clock05.png",
        "signs_and_symbols/clocks/clock09.png",
        "signs_and_symbols/clocks/clock_michael_breuer_01.png",
        "signs_and_symbols/clocks/clock_michael_breuer_03.png",
        "signs_and_symbols/clocks/modern_clock_chris_kemps_01.png",
        "signs_and_symbols/clocks/orologio_da_parete_archi_01.png",
    ],
    "flags": [
        "signs_and_symbols/flags/europe/albania.png",
        "signs_and_symbols/flags/europe/austria.png",
        "signs_and_symbols/flags/europe/belarus.png",
        "signs_and_symbols/flags/europe/bulgaria.png",
        "signs_and_symbols/flags/europe/croatia.png",
        "signs_and_symbols/flags/europe/estonia.png",
        "signs_and_symbols/flags/europe/greece.png",
        "signs_and_symbols/flags/europe/hungary.png",
        "signs_and_symbols/flags/europe/iceland.png",
        "signs_and_symbols/flags/europe/ireland.png",
    ],
    "flowers": [
        "plants/flowers/daisy_jonathan_dietrich_01.png",
        "plants/flowers/flower1_juliane_krug_01.png",
        "plants/flowers/flower_02.png",
        "plants/flowers/flower_03.png",
        "plants/flowers/funnyflower_02.png",
        "plants/flowers/geranium_ganson.png",
        "plants/flowers/pink-rose_tess_brady_01.png",
        "plants/flowers/red_flower_03.png",
        "plants/flowers/sakura_01.png",
        "plants/flowers/sun_flower_ganson.png",
    ],
    "fruit": [
        "food/fruit/another_apple_01.png",
        "food/fruit/bananas_nicu_buculei_01.png",
        "food/fruit/cherry_jonathan_dietrich_01.png",
        "food/fruit/grape_01.png",
        "food/fruit/green_pear_01.png",
        "food/fruit/la_prugna_architetto_fra_01.png",
        "food/fruit/lemon_whole_ganson.png",
        "food/fruit/orange_dave_pena_01.png",
        "food/fruit/peach_simple.png",
        "food/fruit/pear.png",
    ],
    "houses": [
        "buildings/homes/big_house_01.png",
        "buildings/homes/casa_verde_architetto_fr_01.png",
        "buildings/homes/home0.png",
        "buildings/homes/home1.png",
        "buildings/homes/home4.png",
        "buildings/homes/home5.png",
        "buildings/homes/home9.png",
        "buildings/homes/house_juliane_krug_01.png",
        "buildings/homes/my_house_01.png",
        "buildings/homes/small_house_01.png",
    ],
    "icecream": [
        "food/desserts/cone1_ganson.png",
        "food/desserts/cone2_ganson.png",
        "food/desserts/cone3_ganson.png",
        "food/desserts/cone4_ganson.png",
        "food/desserts/cone_alt1.png",
        "food/desserts/cone_alt3.png",
        "food/desserts/cone_alt4.png",
        "food/desserts/cone_soft_chocolate.png",
        "food/desserts/cone_soft_vanilla.png",
        "food/desserts/glace_italienne_jean-vic_01.png",
    ],
    "roadsigns": [
        "transportation/roadsigns/bambi.png",
        "transportation/roadsigns/cattle.png",
        "transportation/roadsigns/crosswind.png",
        "transportation/roadsigns/falling_rocks.png",
        "transportation/roadsigns/horse.png",
        "transportation/roadsigns/humpback.png",
        "transportation/roadsigns/narrows.png",
        "transportation/roadsigns/old_folks.png",
        "transportation/roadsigns/roundabout.png",
        "transportation/roadsigns/slippery.png",
    ],
    "smileys": [
        "people/smilies/smiley001.png",
        "people/smilies/smiley002.png",
        "people/smilies/smiley007.png",
        "people/smilies/smiley010.png",
        "people/smilies/smiley100.png",
        "people/smilies/smiley101.png",
        "people/smilies/smiley106.png",
        "people/smilies/smiley110.png",
        "people/smilies/smiley113.png",
        "people/smilies/smiley_nicolas_01.png",
    ],
}

# First 16 hex digits of each source file's SHA-256 (openclipart-png 1:0.18+dfsg-19,
# scikit-image 0.26.0).
SOURCE_SHA256: dict[str, str] = {
    "animals/mammals/housecats/gatto_cat_architetto_fra_01.png": "e188ca5ffa85d048",
    "animals/mammals/housecats/gatto_cat_architetto_fra_03.png": "ae29ffe6e3d31f73",
    "animals/mammals/housecats/gatto_cat_architetto_fra_04.png": "cb634759a820829f",
    "animals/mammals/housecats/kitten_gerald_g._01.png": "f58ab1fba94947b3",
    "animals/mammals/dogs/beagle_copper_ganson.png": "cdbbe1386ea98063",
    "animals/mammals/dogs/black_lab_ganson.png": "124d3b12dfc2068d",
    "animals/mammals/dogs/bulldog_puppy_ganson.png": "d14d850bc9cae551",
    "food/fruit/an_apple_01.png": "2318b6788cdd5ccf",
    "food/fruit/apple.png": "11ff06239d6df094",
    "food/fruit/banana.png": "da2d4218b2312c7c",
    "food/fruit/cherries.png": "5d1f5d00b4e55d65",
    "food/fruit/grapes_simple.png": "977b3094d769fbeb",
    "food/fruit/lemon.png": "3f70d99db4330bd8",
    "food/fruit/orange.png": "43f6be35de5724b2",
    "buildings/homes/home12.png": "d06f96cf7df5bc32",
    "buildings/homes/home14.png": "0ec8363c8da799c8",
    "buildings/homes/home3.png": "11075366e2d13397",
    "buildings/homes/home6.png": "9141c797b09a3eb4",
    "buildings/homes/house.png": "bb712bdf68d55b15",
    "buildings/homes/house_christoph_brill_01.png": "6134d4dd61cdd556",
    "transportation/vehicles/bus1_jarno_vasamaa_01.png": "0e62bf1c9253ed17",
    "transportation/vehicles/bus2_jarno_vasamaa_01.png": "1a145e671c9f7c6b",
    "transportation/vehicles/car.png": "30429b3441209bbf",
    "transportation/vehicles/aircraft_jarno_vasamaa1.png": "760f9a460309e66d",
    "transportation/vehicles/aircraft_jarno_vasamaa2.png": "83cbb8332dec40b2",
    "transportation/vehicles/bicycle_01.png": "c4f35f1c665bc9bc",
    "plants/flowers/daffodil_jonathan_dietri_01.png": "0da60f55849f7b94",
    "plants/flowers/flowers_jonathan_dietric_01.png": "6ca66b6f3da12d8f",
    "plants/flowers/flower_01.png": "84f472358c6c13cd",
    "plants/flowers/flower_peterm_01.png": "f049f58d65865c7a",
    "plants/flowers/red_flower_01.png": "78e3ef0ed1907d15",
    "plants/flowers/tulips_ganson.png": "da60c4e736c74bc1",
    "skimage:chelsea.png": "596aa1e7cb875eb7",
    "skimage:coffee.png": "cc02f8ca188b167c",
    "skimage:astronaut.png": "88431cd9653ccd53",
    "skimage:rocket.jpg": "c2dd0de7c538df8d",
    "skimage:hubble_deep_field.jpg": "3a19c5dd8a927a93",
    "skimage:camera.png": "b0793d2adda0fa6a",
    "signs_and_symbols/clocks/alarm_clock_gerald_g._01.png": "c556dfc5c9e74337",
    "signs_and_symbols/clocks/alarm_clock_mike_powers_.png": "a8b4065f5d788ce0",
    "signs_and_symbols/clocks/analog_clock_jonathan_di_01.png": "250373d6c0a2cdbd",
    "signs_and_symbols/clocks/clock01.png": "1d52691e1944880a",
    "signs_and_symbols/clocks/clock05.png": "1c53af4a2c42d9c8",
    "signs_and_symbols/clocks/clock09.png": "ff8eb3de5427bfaa",
    "signs_and_symbols/clocks/clock_michael_breuer_01.png": "688feeac209a79de",
    "signs_and_symbols/clocks/clock_michael_breuer_03.png": "6889ac7a766089f2",
    "signs_and_symbols/clocks/modern_clock_chris_kemps_01.png": "e3cedafed325b8cd",
    "signs_and_symbols/clocks/orologio_da_parete_archi_01.png": "f51e346ad2d0409d",
    "signs_and_symbols/flags/europe/albania.png": "03d9bed24d8f9a94",
    "signs_and_symbols/flags/europe/austria.png": "2f8673538053d048",
    "signs_and_symbols/flags/europe/belarus.png": "e1d4eef66ad07ff7",
    "signs_and_symbols/flags/europe/bulgaria.png": "5ec6b8127e49308f",
    "signs_and_symbols/flags/europe/croatia.png": "2d179be6692c539b",
    "signs_and_symbols/flags/europe/estonia.png": "ec7576e7a19236a8",
    "signs_and_symbols/flags/europe/greece.png": "cfa486aeda5c51a5",
    "signs_and_symbols/flags/europe/hungary.png": "71a4a3cc951ca794",
    "signs_and_symbols/flags/europe/iceland.png": "d4368316034b0487",
    "signs_and_symbols/flags/europe/ireland.png": "3283908f0ff00466",
    "plants/flowers/daisy_jonathan_dietrich_01.png": "1c80cd75474b5268",
    "plants/flowers/flower1_juliane_krug_01.png": "bcde1402a30a18e7",
    "plants/flowers/flower_02.png": "bab743ed4cd1ac60",
    "plants/flowers/flower_03.png": "1cb2da04aa4b7513",
    "plants/flowers/funnyflower_02.png": "196f1a0d0e779b2b",
    "plants/flowers/geranium_ganson.png": "fe41b6ac440d3687",
    "plants/flowers/pink-rose_tess_brady_01.png": "87530111d5e2a7d0",
    "plants/flowers/red_flower_03.png": "495e0e6c4507e09e",
    "plants/flowers/sakura_01.png": "3b7f6a0a8d5bbd84",
    "plants/flowers/sun_flower_ganson.png": "f0a6842c4fceb94b",
    "food/fruit/another_apple_01.png": "29bca4e4fe76eaca",
    "food/fruit/bananas_nicu_buculei_01.png": "67f301ac57aa5e2f",
    "food/fruit/cherry_jonathan_dietrich_01.png": "1580c57b943afe66",
    "food/fruit/grape_01.png": "1565fbbabf60ca57",
    "food/fruit/green_pear_01.png": "9e42516e80b6a499",
    "food/fruit/la_prugna_architetto_fra_01.png": "aae16fdb9d314206",
    "food/fruit/lemon_whole_ganson.png": "14c8240045220633",
    "food/fruit/orange_dave_pena_01.png": "f6a17b699a0df69e",
    "food/fruit/peach_simple.png": "98bddc78118fbdb3",
    "food/fruit/pear.png": "07195349cdc62de2",
    "buildings/homes/big_house_01.png": "de058482fb49851e",
    "buildings/homes/casa_verde_architetto_fr_01.png": "e116e3b1831792cb",
    "buildings/homes/home0.png": "d0dda56061c85c05",
    "buildings/homes/home1.png": "57a99b11fed0e265",
    "buildings/homes/home4.png": "e5940253c10e0ddd",
    "buildings/homes/home5.png": "a6d6d172f87a9c91",
    "buildings/homes/home9.png": "be1f0694f2e7b5b9",
    "buildings/homes/house_juliane_krug_01.png": "c391000516eb18ab",
    "buildings/homes/my_house_01.png": "542030109692aa00",
    "buildings/homes/small_house_01.png": "407dd515db1714d6",
    "food/desserts/cone1_ganson.png": "e1badd041646d6d1",
    "food/desserts/cone2_ganson.png": "bd3acf6462d6a114",
    "food/desserts/cone3_ganson.png": "a224475304c45afb",
    "food/desserts/cone4_ganson.png": "c7338b9d545b80c5",
    "food/desserts/cone_alt1.png": "15089bdc588d3d42",
    "food/desserts/cone_alt3.png": "547546491b85eaa8",
    "food/desserts/cone_alt4.png": "e703d46adc0d49bc",
    "food/desserts/cone_soft_chocolate.png": "414291166e25c460",
    "food/desserts/cone_soft_vanilla.png": "ac08383daaf43b84",
    "food/desserts/glace_italienne_jean-vic_01.png": "677c8f973726f153",
    "transportation/roadsigns/bambi.png": "f97e1fc1e006a6f9",
    "transportation/roadsigns/cattle.png": "12f180edb6ff7492",
    "transportation/roadsigns/crosswind.png": "3d157690d042a4cd",
    "transportation/roadsigns/falling_rocks.png": "606db3d5ce420e7e",
    "transportation/roadsigns/horse.png": "246274c682b0d344",
    "transportation/roadsigns/humpback.png": "e5d88062dcd54a42",
    "transportation/roadsigns/narrows.png": "ae9adcba026e0646",
    "transportation/roadsigns/old_folks.png": "70cee4eaa3b97dc6",
    "transportation/roadsigns/roundabout.png": "23359067904a020b",
    "transportation/roadsigns/slippery.png": "917d380340a10a31",
    "people/smilies/smiley001.png": "a03fc4f6aca5b213",
    "people/smilies/smiley002.png": "08a657d6803f8097",
    "people/smilies/smiley007.png": "5ac979e0666aacad",
    "people/smilies/smiley010.png": "edd581648813443e",
    "people/smilies/smiley100.png": "d7c5efec9d34652a",
    "people/smilies/smiley101.png": "7702d9ace314ffaf",
    "people/smilies/smiley106.png": "1dca524114f6e287",
    "people/smilies/smiley110.png": "c844cec216100047",
    "people/smilies/smiley113.png": "fadbfa0d238a98e6",
    "people/smilies/smiley_nicolas_01.png": "11768a32550c6794",
}

# --------------------------------------------------------------------------------------


def clipart_name(source: str) -> str:
    stem = Path(source).stem.lower()
    stem = re.sub(r"[^a-z0-9_-]+", "_", stem)
    return re.sub(r"_+", "_", stem).strip("_") + ".png"


class Sources:
    """Reads source files from the openclipart tree and the scikit-image wheel."""

    def __init__(self, clipart_root: Path, skimage_wheel: Path | None, verify: bool) -> None:
        self.clipart_root = clipart_root
        self.skimage_wheel = skimage_wheel
        self.verify = verify

    def read(self, source: str) -> bytes:
        data = self._read(source)
        want = SOURCE_SHA256.get(source)
        got = hashlib.sha256(data).hexdigest()[:16]
        if self.verify and want != got:
            sys.exit(
                f"{source}: sha256 starts {got}, expected {want}: another package version?\n"
                "rerun with --no-verify to build anyway (output will differ from the repo's)"
            )
        return data

    def _read(self, source: str) -> bytes:
        if source.startswith("skimage:"):
            if self.skimage_wheel is None:
                sys.exit(
                    "scikit-image wheel not found; run\n"
                    f"  pip download --no-deps scikit-image=={SKIMAGE_VERSION} -d /tmp/skimg\n"
                    "or pass --skimage-wheel PATH"
                )
            with zipfile.ZipFile(self.skimage_wheel) as wheel:
                data = wheel.read("skimage/data/" + source.split(":", 1)[1])
        else:
            data = (self.clipart_root / source).read_bytes()
        return data

    def image(self, source: str) -> Image.Image:
        im = Image.open(io.BytesIO(self.read(source)))
        im.load()
        return im


def shrink(im: Image.Image, max_side: int) -> Image.Image:
    w, h = im.size
    if max(w, h) <= max_side:
        return im.copy()
    scale = max_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Pillow premultiplies alpha for RGBA, so transparent edges do not bleed colour.
    return im.resize(size, Image.Resampling.LANCZOS)


def trim_transparent(im: Image.Image) -> Image.Image:
    """Crop the empty (fully transparent) page margin around a drawing."""
    if im.mode != "RGBA":
        return im
    box = im.getchannel("A").getbbox()
    if box is None:
        return im
    left, top, right, bottom = box
    pad = round(TRIM_BORDER * max(right - left, bottom - top))
    return im.crop(
        (
            max(0, left - pad),
            max(0, top - pad),
            min(im.width, right + pad),
            min(im.height, bottom + pad),
        )
    )


def as_clipart(im: Image.Image, max_side: int) -> Image.Image:
    if im.mode == "P" or im.mode == "LA":
        im = im.convert("RGBA")
    return shrink(trim_transparent(im), max_side)


def as_photo(im: Image.Image, max_side: int) -> Image.Image:
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    return shrink(im, max_side)


def save(im: Image.Image, path: Path, quality: int = JPEG_QUALITY) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        im.save(path, "JPEG", quality=quality, optimize=True)
    else:
        im.save(path, "PNG", optimize=True)


def _crop(im: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = im.size
    return im.crop((round(w * left), round(h * top), round(w * right), round(h * bottom)))


DERIVE: dict[str, Callable[[Path, Path], None]] = {
    "jpeg-quality-15": lambda src, dst: save(Image.open(src), dst, quality=15),
    "resize-128": lambda src, dst: save(shrink(Image.open(src), 128), dst),
    "resize-96": lambda src, dst: save(shrink(Image.open(src), 96), dst),
    "crop-6pct": lambda src, dst: save(_crop(Image.open(src), 0.06, 0.06, 0.94, 0.94), dst),
    "crop-right-bottom-10pct": lambda src, dst: save(
        _crop(Image.open(src), 0.0, 0.0, 0.90, 0.90), dst
    ),
    "byte-copy": lambda src, dst: shutil.copyfile(src, dst),
}


def clear_images(folder: Path) -> None:
    """Remove previously generated images (only image files this script writes)."""
    if not folder.exists():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".png", ".jpg"):
            path.unlink()
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def build_sample(src: Sources, out: Path) -> None:
    clear_images(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, source in SAMPLE:
        im = src.image(source)
        if name.endswith(".jpg"):
            save(as_photo(im, SAMPLE_MAX_SIDE), out / name)
        else:
            save(as_clipart(im, SAMPLE_MAX_SIDE), out / name)
    for name, origin, how in NEAR_DUPLICATES:
        DERIVE[how](out / origin, out / name)
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{out}: {len(SAMPLE) + len(NEAR_DUPLICATES)} images, {total / 1024:.0f} KiB")


def build_clipart(src: Sources, out: Path) -> None:
    clear_images(out)
    lines = [
        "# tests/data/clipart: sources",
        "",
        "Generated by `data/make_sample.py --only clipart`; do not edit by hand.",
        "",
        f"{sum(len(v) for v in CLIPART.values())} images in {len(CLIPART)} categories "
        f"({', '.join(CLIPART)}), {len(next(iter(CLIPART.values())))} per category,",
        "all from Debian's `openclipart-png` package (version 1:0.18+dfsg-19), which is",
        "public domain (Creative Commons Public Domain Dedication; see",
        "`/usr/share/doc/openclipart-png/copyright`). Each image had its fully transparent",
        f"margin trimmed and was shrunk to a longest side of {CLIPART_MAX_SIDE} px (PNG, alpha",
        "kept); originals already smaller than that were not enlarged.",
        "",
        "| file | original path (under /usr/share/openclipart/png) |",
        "| --- | --- |",
    ]
    for category, sources in CLIPART.items():
        for source in sources:
            rel = f"{category}/{clipart_name(source)}"
            save(as_clipart(src.image(source), CLIPART_MAX_SIDE), out / rel)
            lines.append(f"| `{rel}` | `{source}` |")
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = [p for p in out.rglob("*.png")]
    total = sum(p.stat().st_size for p in files)
    print(f"{out}: {len(files)} images, {total / 1024:.0f} KiB")


def find_wheel(given: str | None) -> Path | None:
    if given:
        return Path(given)
    found = sorted(glob.glob(SKIMAGE_WHEEL_GLOB))
    return Path(found[-1]) if found else None


def all_sources() -> list[str]:
    return [s for _, s in SAMPLE] + [s for v in CLIPART.values() for s in v]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("sample", "clipart"), help="build just one folder")
    ap.add_argument("--openclipart", default=str(OPENCLIPART_ROOT), help="openclipart png root")
    ap.add_argument("--skimage-wheel", help=f"path to scikit_image-{SKIMAGE_VERSION}-*.whl")
    ap.add_argument("--no-verify", action="store_true", help="do not check source SHA-256s")
    ap.add_argument(
        "--print-hashes", action="store_true", help="print SOURCE_SHA256 entries and exit"
    )
    args = ap.parse_args(argv)

    root = Path(args.openclipart)
    if not root.is_dir():
        sys.exit(f"{root} not found: apt-get install openclipart-png (or pass --openclipart)")
    src = Sources(root, find_wheel(args.skimage_wheel), verify=not args.no_verify)

    if args.print_hashes:
        for source in all_sources():
            digest = hashlib.sha256(src._read(source)).hexdigest()[:16]
            print(f'    "{source}": "{digest}",')
        return 0

    # Check every source before writing anything.
    needed = {
        None: all_sources(),
        "sample": [s for _, s in SAMPLE],
        "clipart": [s for v in CLIPART.values() for s in v],
    }[args.only]
    for source in needed:
        src.read(source)

    if args.only in (None, "sample"):
        build_sample(src, SAMPLE_DIR)
    if args.only in (None, "clipart"):
        build_clipart(src, CLIPART_DIR)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
