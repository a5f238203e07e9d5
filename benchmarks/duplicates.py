"""Near-duplicate groups measured on a labelled set made from images no one here drew.

The set (built under a temporary folder, never in the repository):

- hard negatives of one style: Debian's ``openclipart-png`` safety and road
  signs (``signs_and_symbols/*.png``) and the AIGA airport pictograms
  (``signs_and_symbols/map_symbols``, one variant of each), distinct pictures
  that share shapes, colours and strokes;
- scikit-image's sample photographs (Debian ``python3-skimage``);
- edited copies of some originals, one edit each, in turn: resize (50-70 %),
  crop (4-8 % off each side), JPEG q60-80, brightness ±15 %, EXIF rotation
  (pixels stored turned, orientation tag set, so it displays as the
  original), PNG↔JPEG re-encode; a few originals get two copies;
- two byte-identical copies (exact duplicates): one of an original that also
  has an edited copy, one of an original that has none.

Every file is labelled with its original. For each backbone and threshold the
script groups the index with :func:`explorer.analysis.keepers.duplicate_sets` and
prints, as one JSON line on stdout:

- ``pair_precision``: of the image pairs inside near-duplicate groups, the
  share that come from the same original;
- ``copy_recall``: of the edited copies, the share grouped with their original;
- ``largest_group``; ``mixed_groups``: groups holding more than one original,
  and their share of all groups; ``exact_ok``: each byte-identical copy is in
  one group with its original (an exact group, or the original's near-duplicate
  group when it has an edited copy);
- ``embedding_only``: the same figures without the pixel check
  (:class:`explorer.analysis.pixelcheck.PixelCheck`), to show what it earns.

Example: ``.venv/bin/python benchmarks/duplicates.py --backbones efficientnet-lite0,pixels``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, say

CLIPART = Path("/usr/share/openclipart/png/signs_and_symbols")
SKIMAGE = Path("/usr/lib/python3/dist-packages/skimage/data")
# real photographs of scikit-image (its test patterns, tiny files and the
# right-hand image of its stereo pair are left out: the pair is one scene)
PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "color.png",
    "grass.png",
    "gravel.png",
    "horse.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "logo.png",
    "moon.png",
    "motorcycle_left.png",
    "page.png",
    "phantom.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)
# files the package holds twice under two names (looked at by eye: the same
# drawing), left out so that two "distinct" originals are never one picture
SAME_PICTURE = (
    # nine files of one drawing: elder_sign_nubldoff_01r.png is kept
    *(f"elder_sign_nubldoff_0{i}r.png" for i in (2, 3)),
    *(f"elder_sign_nurbldoff_0{i}r.png" for i in range(1, 7)),
    "high_tension_danger_yve_r.png",  # = advertising_yves_guillo_r.png
    "biohazard_symbol_01.png",  # = biohazard_01.png
)
EDITS = ("resize", "crop", "jpeg", "brightness", "exif", "reencode")
THRESHOLDS = (0.70, 0.78, 0.85, 0.90, 0.95, 0.99)


def _originals(signs: int, pictograms: int) -> list[Path]:
    """Distinct clip art of one style, then the photographs."""
    out = [p for p in sorted(CLIPART.glob("*.png")) if p.name not in SAME_PICTURE][:signs]
    seen: set[str] = set()
    for p in sorted((CLIPART / "map_symbols").glob("*.png")):
        base = p.stem.rstrip("_0123456789")  # aiga_x1.png and aiga_x_.png are one pictogram
        if base not in seen and len(seen) < pictograms:
            seen.add(base)
            out.append(p)
    out += [SKIMAGE / name for name in PHOTOS if (SKIMAGE / name).is_file()]
    return out


def _flat(im: Image.Image) -> Image.Image:
    """RGB on white (how explorer sees a transparent PNG)."""
    im = im.convert("RGBA")
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, im).convert("RGB")


def _edit(src: Path, kind: str, rng: np.random.Generator, out: Path) -> Path:
    im = Image.open(src)
    im.load()
    if kind == "resize":
        f = float(rng.uniform(0.5, 0.7))
        im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.LANCZOS)
        dest = out.with_suffix(src.suffix)
        im.save(dest)
    elif kind == "crop":
        f = float(rng.uniform(0.04, 0.08))
        dx, dy = round(im.width * f), round(im.height * f)
        im = im.crop((dx, dy, im.width - dx, im.height - dy))
        dest = out.with_suffix(src.suffix)
        im.save(dest)
    elif kind == "jpeg":
        dest = out.with_suffix(".jpg")
        _flat(im).save(dest, quality=int(rng.integers(60, 81)))
    elif kind == "brightness":
        f = float(rng.choice([-1, 1]) * rng.uniform(0.08, 0.15))
        dest = out.with_suffix(".jpg")
        ImageEnhance.Brightness(_flat(im)).enhance(1 + f).save(dest, quality=92)
    elif kind == "exif":
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90° clockwise to display": store the pixels turned back
        dest = out.with_suffix(".jpg")
        _flat(im).transpose(Image.Transpose.ROTATE_90).save(dest, quality=92, exif=exif.tobytes())
    else:  # reencode: PNG -> JPEG, JPEG -> PNG
        if src.suffix.lower() == ".png":
            dest = out.with_suffix(".jpg")
            _flat(im).save(dest, quality=90)
        else:
            dest = out.with_suffix(".png")
            im.save(dest)
    return dest


def make_set(
    root: Path, *, signs: int = 180, pictograms: int = 80, copies: int = 100, seed: int = 0
) -> dict[str, Any]:
    """Write the labelled set under ``root``.

    Returns:
        ``labels``: file name -> original id; ``kinds``: file name -> edit (or
        ``"original"``/``"exact"``); ``originals``: how many.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    labels: dict[str, int] = {}
    kinds: dict[str, str] = {}
    sources = _originals(signs, pictograms)
    digests: set[bytes] = set()
    kept: list[Path] = []
    for p in sources:
        data = p.read_bytes()
        if data in digests:  # the same file under two names in the package
            continue
        digests.add(data)
        o = len(kept)
        name = f"o{o:03d}-{p.stem}{p.suffix.lower()}"
        (root / name).write_bytes(data)
        labels[name] = o
        kinds[name] = "original"
        kept.append(root / name)
    chosen = rng.choice(len(kept), size=min(copies, len(kept)), replace=False)
    twice = set(chosen[: len(chosen) // 5].tolist())  # a fifth of them get a second copy
    e = 0
    for o in chosen.tolist():
        for c in range(2 if o in twice else 1):
            kind = EDITS[e % len(EDITS)]
            e += 1
            dest = _edit(kept[o], kind, rng, root / f"o{o:03d}-copy{c}-{kind}")
            labels[dest.name] = o
            kinds[dest.name] = kind
    # two byte-identical copies: one of an original that also has an edited copy (the
    # three must form one group), one of an original that has none (an exact group)
    edited = sorted(set(chosen.tolist()))
    plain = sorted(set(range(len(kept))) - set(edited))
    pick = [edited[int(rng.integers(len(edited)))], plain[int(rng.integers(len(plain)))]]
    for o in pick:
        name = f"o{o:03d}-exact{kept[o].suffix}"
        shutil.copyfile(kept[o], root / name)
        labels[name] = o
        kinds[name] = "exact"
    return {"labels": labels, "kinds": kinds, "originals": len(kept)}


def score(sets: list[Any], labels: dict[str, int], kinds: dict[str, str]) -> dict[str, Any]:
    """Pair precision, copy recall, the largest group and the groups mixing originals."""
    near = [s for s in sets if not s.exact]
    pairs = good = 0
    mixed = 0
    examples: list[list[str]] = []
    together: set[tuple[str, str]] = set()
    for s in near:
        names = [Path(m.path).name for m in s.members]
        if len({labels[n] for n in names}) > 1:
            mixed += 1
            examples.append(sorted(names))
        for a, b in combinations(names, 2):
            pairs += 1
            good += labels[a] == labels[b]
            together.add((a, b))
            together.add((b, a))
    original = {labels[n]: n for n, k in kinds.items() if k == "original"}
    edited = [n for n, k in kinds.items() if k not in ("original", "exact")]
    found = [n for n in edited if (n, original[labels[n]]) in together]
    missed = Counter(kinds[n] for n in edited if n not in found)
    exact_sets = [{Path(m.path).name for m in s.members} for s in sets if s.exact]
    grouped = [{Path(m.path).name for m in s.members} for s in sets]
    exact_ok = all(
        any({n, original[labels[n]]} <= g for g in grouped)
        for n, k in kinds.items()
        if k == "exact"
    )
    return {
        "pair_precision": round(good / pairs, 4) if pairs else None,
        "copy_recall": round(len(found) / len(edited), 4) if edited else None,
        "missed_by_edit": dict(sorted(missed.items())),
        "groups": len(near),
        "largest_group": max((len(s.members) for s in near), default=0),
        "mixed_groups": mixed,
        "mixed_share": round(mixed / len(near), 4) if near else 0.0,
        "exact_groups": len(exact_sets),
        "exact_ok": exact_ok,
        "mixed_examples": examples,
    }


def run_backbone(
    folder: Path, work: Path, backbone: str, truth: dict[str, Any], thresholds: list[float]
) -> dict[str, Any]:
    """Index the set with one backbone and score every threshold."""
    from explorer.analysis.params import default_dup_threshold
    from explorer.analysis.stored import current_analysis
    from explorer.jobs.build import build
    from explorer.jobs.catalog import duplicates

    index = work / f"idx-{backbone}"
    started = time.perf_counter()
    build(folder, index_path=index, backbone=backbone, fresh=True)
    current_analysis(index)
    built = time.perf_counter() - started
    out: dict[str, Any] = {
        "default_threshold": default_dup_threshold(backbone),
        "build_s": round(built, 1),
    }
    curve = []
    for t in sorted({*thresholds, default_dup_threshold(backbone)}):
        started = time.perf_counter()
        _, sets, _ = duplicates(index, threshold=t)
        row = {"threshold": t, **score(sets, truth["labels"], truth["kinds"])}
        examples = row.pop("mixed_examples")
        if t == out["default_threshold"]:
            say(f"{backbone}: groups mixing originals at the default: {examples}")
        row["group_s"] = round(time.perf_counter() - started, 2)
        curve.append(row)
        say(f"{backbone} t={t:.2f}: {json.dumps(row)}")
    out["curve"] = curve
    out["at_default"] = next(r for r in curve if r["threshold"] == out["default_threshold"])
    out["embedding_only"] = [
        {"threshold": t, **_embedding_only(index, t, truth)}
        for t in sorted({*thresholds, default_dup_threshold(backbone)})
    ]
    return out


def _embedding_only(index_path: Path, threshold: float, truth: dict[str, Any]) -> dict[str, Any]:
    """The same grouping without the pixel check: what the check earns."""
    from explorer.analysis.duplicates import find_duplicates
    from explorer.analysis.keepers import DuplicateSet, Member
    from explorer.analysis.stored import current_analysis

    index, analysis = current_analysis(index_path)
    records = index.records
    groups = find_duplicates(
        analysis.neighbors,
        analysis.scores,
        threshold=threshold,
        hashes=[r.sha256 for r in records],
        features=index.features,
    )
    sets = [
        DuplicateSet(
            group=g,
            members=[
                Member(i, records[i].path, 0, 0, 0, 0, False, group.exact, 0.0)
                for i in group.members
            ],
            exact_group=group.exact,
        )
        for g, group in enumerate(groups)
    ]
    row = score(sets, truth["labels"], truth["kinds"])
    row.pop("mixed_examples")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", default="efficientnet-lite0,pixels")
    parser.add_argument("--thresholds", default=",".join(f"{t:.2f}" for t in THRESHOLDS))
    parser.add_argument("--signs", type=int, default=180)
    parser.add_argument("--pictograms", type=int, default=80)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="build the set here and keep it")
    args = parser.parse_args()
    if not CLIPART.is_dir():
        print(f"needs Debian's openclipart-png ({CLIPART} is missing)", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="explorer-dups-"))
    try:
        folder = work / "set"
        if folder.exists():
            shutil.rmtree(folder)
        truth = make_set(
            folder,
            signs=args.signs,
            pictograms=args.pictograms,
            copies=args.copies,
            seed=args.seed,
        )
        kinds = Counter(truth["kinds"].values())
        say(f"labelled set: {len(truth['labels'])} files, {truth['originals']} originals, {kinds}")
        thresholds = [float(t) for t in args.thresholds.split(",")]
        result: dict[str, Any] = {
            "benchmark": "duplicates",
            "images": len(truth["labels"]),
            "originals": truth["originals"],
            "files_by_kind": dict(sorted(kinds.items())),
            "seed": args.seed,
            "backbones": {},
        }
        for b in args.backbones.split(","):
            result["backbones"][b] = run_backbone(folder, work, b, truth, thresholds)
        result["machine"] = machine_info(["numpy", "tensorflow", "pillow"])
        print(json.dumps(result, separators=(",", ":")))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
