"""Extraction throughput: the bare model against an end-to-end ``build``.

Measures, in one process run, and prints ONE JSON line on stdout (progress on
stderr):

1. ``bare_images_per_s``: ``Backbone.embed`` in a tight loop over batches
   decoded beforehand (the folder's images, same batch boundaries as a build),
   after one untimed warm-up batch.
2. ``build_images_per_s``: ``explorer.jobs.build.build(..., fresh=True)`` on the
   same folder, from ``summary.images_per_second``, and wall-clock. It is
   also given with and without the model load (``model_load_s``), and in
   steady state: from the end of the first batch (which pays for tracing the
   graph, like the bare model's warm-up) to the end of the last one, timed
   through the progress hook. ``*ratio*`` = build / bare.
   ``--repeat R`` alternates R rounds of (1) and (2) and keeps the best of
   each, since other processes on a shared machine only ever slow a run down;
   ``--quiet-wait S`` waits (up to S seconds) for them to go idle before each
   timed step. Every step records how many cores other processes used meanwhile.
3. ``batch_sweep``: the bare model at each of ``--batch-sizes`` (full batches).
4. ``rebuild_unchanged_s``: ``build`` again on the unchanged folder, in process,
   then as ``explorer build`` in a fresh interpreter (what a user runs), with
   ``--no-report`` and with the default HTML report (written to a temporary
   folder); none of them may load the model or import TensorFlow.
5. With ``--rebuild-n N``: N distinct small JPEG variants of the folder's
   images, built once (end-to-end throughput at scale), then rebuilt unchanged.
6. With ``--add-base N``: N such variants indexed, then ``--add-fraction``
   (default 1 %) new ones added, by ``explorer add`` and by ``explorer build``
   with the new files, each as a command in a fresh interpreter (``add_*``).
7. With ``--queries N``: ``explorer similar`` for an indexed image, a new image
   and N new images in one call, as a command (model load included) and in
   process with the model already loaded (``query_*``; benchmarks/queries.py).

Usage::

    python benchmarks/extract.py --images data/sample --weights random --repeat 3
    python benchmarks/extract.py --images data/sample --weights random --rebuild-n 1000
    python benchmarks/extract.py --images data/sample --backbone efficientnet-lite0 \
        --add-base 10000 --queries 100
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import (  # benchmarks/common.py (run as scripts)
    Meter,
    machine_info,
    own_cpu_seconds,
    run_cli,
    say,
    source_revision,
)
from decode import seed_loop, stage_costs  # benchmarks/decode.py
from numpy.typing import NDArray

import explorer
from explorer.errors import ExplorerError
from explorer.features.base import Backbone
from explorer.features.registry import get_spec, load_backbone
from explorer.inputs.decode import LoadedImage, load_image
from explorer.inputs.scan import scan_folder
from explorer.jobs import build as pipeline

TARGET_RATIO = 0.9  # end-to-end extraction >= 90% of the bare model
TARGET_REBUILD_S = 5.0  # "a few seconds" for an unchanged rebuild of 1,000 images
TARGET_QUERY_S = 1.0  # `explorer similar` answers within a second once the process is up
VARIANT_SIDE = 256  # largest side of the --rebuild-n images

LIBRARIES = ("tensorflow", "keras", "numpy", "pillow")


# ---------------------------------------------------------------- bare model


def decode_folder(root: Path) -> NDArray[np.uint8]:
    """Every readable image of ``root`` as ``(n, 224, 224, 3)`` uint8, in build order."""
    loaded = [load_image(c.path) for c in scan_folder(root).candidates]
    pixels = [im.pixels for im in loaded if isinstance(im, LoadedImage)]
    if not pixels:
        raise SystemExit(f"no readable image in {root}")
    return np.stack(pixels)


def time_embed(
    backbone: Backbone, pixels: NDArray[np.uint8], *, batch_size: int, images: int
) -> dict[str, Any]:
    """Images/s of ``backbone.embed`` over ``images`` images cut in ``batch_size`` batches.

    The stack is repeated as needed; the batches are built before timing, and
    one extra warm-up batch of the full size runs first, untimed.
    """
    order = np.arange(images) % len(pixels)
    batches = [pixels[order[i : i + batch_size]] for i in range(0, images, batch_size)]
    backbone.embed(pixels[np.arange(batch_size) % len(pixels)])  # warm-up, not timed
    cpu, start = own_cpu_seconds(), time.perf_counter()
    for batch in batches:
        backbone.embed(batch)
    seconds = time.perf_counter() - start
    return {
        "batch_size": batch_size,
        "images": images,
        "batches": len(batches),
        "seconds": round(seconds, 3),
        "images_per_s": round(images / seconds, 3),
        "cpu_s_per_image": round((own_cpu_seconds() - cpu) / images, 3),
    }


# ---------------------------------------------------------------- build


@dataclass
class BuildRun:
    """A build's summary plus what the benchmark timed around it."""

    summary: pipeline.BuildSummary
    # (wall time, own CPU seconds, images) at the end of each batch
    ticks: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.summary.indexed + self.summary.updated

    def steady_images_per_s(self) -> float | None:
        """Throughput from the end of the first batch to the end of the last one."""
        if len(self.ticks) < 2:
            return None
        images = sum(n for _, _, n in self.ticks[1:])
        return images / (self.ticks[-1][0] - self.ticks[0][0])

    def steady_cpu_s_per_image(self) -> float | None:
        """Own CPU seconds per image over the same span (less sensitive to other load)."""
        if len(self.ticks) < 2:
            return None
        images = sum(n for _, _, n in self.ticks[1:])
        return (self.ticks[-1][1] - self.ticks[0][1]) / images


def build_weights(backbone: str, weights: str) -> list[str]:
    """``--weights`` for a build, or nothing for a backbone that brings its own (Lite0)."""
    return ["--weights", weights] if get_spec(backbone).needs_weights else []


def run_build(
    root: Path, *, index_path: Path, backbone: str, weights: str, fresh: bool
) -> BuildRun:
    """Run ``pipeline.build`` and record when each batch finished."""
    ticks: list[tuple[float, float, int]] = []

    def progress(label: str, total: int) -> Callable[[int], None]:
        if label != "extracting":
            return lambda n: None
        start = time.perf_counter()
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            now = time.perf_counter()
            ticks.append((now, own_cpu_seconds(), n))
            done += n
            say(f"  {label} {done}/{total} ({done / (now - start):.2f} images/s so far)")

        return advance

    summary = pipeline.build(
        root,
        index_path=index_path,
        backbone=backbone,
        weights=weights if build_weights(backbone, weights) else None,
        fresh=fresh,
        progress=progress,
    )
    return BuildRun(summary, ticks)


def build_figures(run: BuildRun, bare: dict[str, Any], prefix: str) -> dict[str, Any]:
    """End-to-end figures of a fresh build, and their ratios to the bare model.

    ``summary.extract_seconds`` leaves out the one-off model load, which the
    summary gives as ``model_load_seconds``.
    """
    s = run.summary
    load = s.model_load_seconds
    incl_load = run.done / (s.extract_seconds + load) if s.extract_seconds > 0 else None
    steady = run.steady_images_per_s()
    cpu = run.steady_cpu_s_per_image()

    def ratio(x: float | None) -> float | None:
        return round(x / bare["images_per_s"], 3) if x is not None else None

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        f"{prefix}images": run.done,
        f"{prefix}skipped": sum(s.skipped.values()),
        f"{prefix}images_per_s": r(s.images_per_second),
        f"{prefix}extract_s": r(s.extract_seconds),
        f"{prefix}model_load_s": r(load),
        f"{prefix}images_per_s_incl_load": r(incl_load),
        f"{prefix}steady_images_per_s": r(steady),
        f"{prefix}wall_s": r(s.seconds),
        f"{prefix}wall_images_per_s": r(run.done / s.seconds if s.seconds else None),
        f"{prefix}ratio": ratio(s.images_per_second),
        f"{prefix}ratio_incl_load": ratio(incl_load),
        f"{prefix}ratio_steady": ratio(steady),
        f"{prefix}steady_cpu_s_per_image": r(cpu),
        f"{prefix}cpu_ratio_steady": r(bare["cpu_s_per_image"] / cpu) if cpu else None,
    }


def measure_rounds(
    args: argparse.Namespace,
    root: Path,
    backbone: Backbone,
    pixels: NDArray[np.uint8],
    *,
    index_path: Path,
    meter: Meter,
    tag: str,
) -> tuple[dict[str, Any], BuildRun, list[dict[str, Any]]]:
    """``--repeat`` rounds of (bare model, fresh build) on one folder; the best of each."""
    rounds: list[dict[str, Any]] = []
    bare: dict[str, Any] | None = None
    best: BuildRun | None = None
    n = len(pixels)
    for r in range(1, args.repeat + 1):
        with meter.measure(f"bare_{tag}{r}"):
            point = time_embed(backbone, pixels, batch_size=backbone.batch_size, images=n)
        say(f"round {r}: bare model {point['images_per_s']:.2f} images/s")
        with meter.measure(f"build_{tag}{r}"):
            run_ = run_build(
                root,
                index_path=index_path,
                backbone=args.backbone,
                weights=args.weights,
                fresh=True,
            )
        steady = run_.steady_images_per_s()
        rounds.append(
            {
                "bare_images_per_s": point["images_per_s"],
                "build_images_per_s": round(run_.summary.images_per_second, 3),
                "build_steady_images_per_s": None if steady is None else round(steady, 3),
                "bare_others_cores": meter.phases[f"bare_{tag}{r}"].others_cores,
                "build_others_cores": meter.phases[f"build_{tag}{r}"].others_cores,
            }
        )
        say(f"round {r}: build {rounds[-1]}")
        if bare is None or point["images_per_s"] > bare["images_per_s"]:
            bare = point
        if best is None or run_.summary.images_per_second > best.summary.images_per_second:
            best = run_
    assert bare is not None and best is not None  # --repeat >= 1
    return bare, best, rounds


FOLDER_KEYS = (
    "build_images",
    "build_images_per_s",
    "build_steady_images_per_s",
    "build_ratio",
    "build_ratio_steady",
    "build_steady_cpu_s_per_image",
    "build_cpu_ratio_steady",
)


def folder_entry(
    folder: Path, figures: dict[str, Any], bare: dict[str, Any], best: BuildRun | None = None
) -> dict[str, Any]:
    """The per-folder figures of a run with several ``--images`` folders."""
    entry: dict[str, Any] = {"images_dir": str(folder), "bare_images_per_s": bare["images_per_s"]}
    entry["bare_cpu_s_per_image"] = bare["cpu_s_per_image"]
    entry.update({k: figures.get(k) for k in FOLDER_KEYS})
    return entry


def versus_seed(
    args: argparse.Namespace, root: Path, out: dict[str, Any], *, meter: Meter
) -> dict[str, Any]:
    """The seed project's per-image Keras loop on the first folder, against this run's build."""
    paths = [c.path for c in scan_folder(root).candidates]
    with meter.measure("seed_loop"):
        seed = seed_loop(paths)
    ratio = out["build_images_per_s"] / seed["images_per_s"] if seed["images_per_s"] else None
    say(f"seed loop (load_img + one predict per image, VGG16 fc2): {seed['images_per_s']} images/s")
    return {
        "seed": seed,
        "explorer_backbone": args.backbone,
        "explorer_build_images_per_s": out["build_images_per_s"],
        "ratio": None if ratio is None else round(ratio, 2),
    }


def cli_has_option(command: str, option: str, *, cwd: Path) -> bool:
    """Whether ``explorer COMMAND --help`` lists ``option``."""
    proc = subprocess.run(
        [sys.executable, "-m", "explorer", command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return option in proc.stdout


def rebuild_figures(
    root: Path, *, index_path: Path, backbone: str, weights: str, meter: Meter, key: str
) -> dict[str, Any]:
    """Rebuild an unchanged folder in process and through the CLI; the model must stay unloaded.

    The CLI runs in a fresh interpreter, from a temporary folder so that
    nothing is written into the current one: with ``--no-report`` (the index
    rebuild alone), then twice with the default HTML report: the first run
    computes the analysis (clusters, map) the index lacks, the second is the
    unchanged rebuild a user repeats.
    """
    with meter.measure(key):
        run = run_build(
            root, index_path=index_path, backbone=backbone, weights=weights, fresh=False
        )
    s = run.summary
    say(f"{key}: {s.seconds:.2f} s, {s.unchanged} unchanged, model loaded: {s.model_loaded}")
    out: dict[str, Any] = {
        f"{key}_s": round(s.seconds, 3),
        f"{key}_images": s.unchanged,
        f"{key}_extracted": run.done,
        f"{key}_model_loaded": s.model_loaded,
    }
    args = ["build", str(root), "--index", str(index_path), "--backbone", backbone]
    args += build_weights(backbone, weights)
    cwd = index_path.parent
    has_report = cli_has_option("build", "--no-report", cwd=cwd)
    report = ["--out", str(cwd / "report.html")]
    variants = {"cli": ["--no-report"], "cli_report_first": report, "cli_report": report}
    model_free, tf_free = not s.model_loaded, True
    for name, extra in variants.items() if has_report else [("cli", [])]:
        with meter.measure(f"{key}_{name}"):
            summary, tf_imported = run_cli(args + extra, cwd=cwd)
        seconds = meter.phases[f"{key}_{name}"].seconds
        loaded = bool(summary["model_loaded"])
        say(f"{key}_{name}: {seconds:.2f} s, model loaded: {loaded}, TF imported: {tf_imported}")
        out[f"{key}_{name}_s"] = round(seconds, 3)
        out[f"{key}_{name}_model_loaded"] = loaded
        out[f"{key}_{name}_tensorflow_imported"] = tf_imported
        model_free = model_free and not loaded
        tf_free = tf_free and not tf_imported
    out[f"{key}_model_free"] = model_free
    out[f"{key}_tensorflow_free"] = tf_free
    return out


# ---------------------------------------------------------------- generated folders


def make_variants(root: Path, dest: Path, n: int, *, start: int = 0) -> None:
    """Write ``n`` distinct small JPEGs made from the images of ``root``.

    Variant ``i`` of source ``i % k`` is cropped, tinted and resized a little
    differently and carries its number in a JPEG comment, so every file's bytes
    differ even for sources that are copies of each other. Variants are
    numbered from ``start``, so folders made with disjoint ranges share no file.
    """
    from PIL import Image, ImageEnhance

    sources = []
    for cand in scan_folder(root).candidates:
        with contextlib.suppress(Exception), Image.open(cand.path) as im:
            rgb = im.convert("RGB")
            rgb.thumbnail((VARIANT_SIDE, VARIANT_SIDE))
            sources.append((cand.path.stem, rgb))
    if not sources:
        raise SystemExit(f"no readable image in {root}")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        stem, base = sources[i % len(sources)]
        k = i // len(sources)
        w, h = base.size
        cut = k % 9
        variant = base.crop((cut, cut // 2, max(cut + 1, w - cut // 2), max(cut // 2 + 1, h - cut)))
        variant = ImageEnhance.Brightness(variant).enhance(0.85 + 0.03 * (k % 11))
        side = VARIANT_SIDE - 4 * (k % 8)
        variant.thumbnail((side, side))
        variant.save(
            dest / f"{i:05d}-{stem}.jpg", "JPEG", quality=80 + k % 15, comment=f"variant {i}"
        )


# ---------------------------------------------------------------- incremental, queries


def rebuild_n_figures(
    args: argparse.Namespace, root: Path, work: Path, *, bare: dict[str, Any], meter: Meter
) -> tuple[dict[str, Any], Path, Path]:
    """``--rebuild-n N``: build N generated images, then rebuild them unchanged.

    Returns:
        The figures, the index and the generated folder.
    """
    folder = work / f"variants-{args.rebuild_n}"
    with meter.measure("make_variants"):
        make_variants(root, folder, args.rebuild_n)
    say(f"wrote {args.rebuild_n} variants in {meter.phases['make_variants'].seconds:.1f} s")
    index = work / "index-n"
    with meter.measure("build_n"):
        big = run_build(
            folder, index_path=index, backbone=args.backbone, weights=args.weights, fresh=True
        )
    out = build_figures(big, bare, "build_n_")
    say(f"build of {big.done}: {out['build_n_images_per_s']} images/s")
    out["rebuild_unchanged_n"] = args.rebuild_n
    out.update(
        rebuild_figures(
            folder,
            index_path=index,
            backbone=args.backbone,
            weights=args.weights,
            meter=meter,
            key="rebuild_unchanged_n",
        )
    )
    return out, index, folder


def _command_figures(
    summary: dict[str, Any], seconds: float, key: str, *, new: int, base: int
) -> dict[str, Any]:
    """What an ``explorer add`` / ``explorer build`` run of the new images reported."""
    done = summary["indexed"] + summary["updated"]
    load = summary["model_load_seconds"]
    other = summary["seconds"] - load - summary["extract_seconds"]
    return {
        f"{key}_s": round(seconds, 3),
        f"{key}_command_s": round(summary["seconds"], 3),
        f"{key}_model_load_s": round(load, 3),
        f"{key}_extract_s": round(summary["extract_seconds"], 3),
        f"{key}_images_per_s": summary["images_per_second"],
        f"{key}_other_s": round(other, 3),
        f"{key}_images": done,
        f"{key}_unchanged": summary["unchanged"],
        f"{key}_index_images": summary["images"],
        f"{key}_counts_ok": done == new
        and summary["images"] == base + new
        and not summary["skipped"],
    }


def add_figures(
    args: argparse.Namespace, root: Path, work: Path, *, bare: dict[str, Any], meter: Meter
) -> tuple[dict[str, Any], Path, Path]:
    """``--add-base N``: index N generated images, then add ``--add-fraction`` more.

    The base index is built in process; a copy of it is kept. The new images
    are then moved into the indexed folder (under ``new/``) and indexed twice,
    each time as a command in a fresh interpreter: ``explorer add DIR/new``
    on the index (stored PCA, no refit), and ``explorer build DIR --no-report``
    on the copy (PCA refitted over all images).

    Returns:
        The figures, the index after the add, and an image it holds unchanged.
    """
    base, new = args.add_base, args.add_new
    folder = work / f"add-{base}"
    images, incoming = folder / "images", folder / "incoming"
    with meter.measure("add_make_images"):
        make_variants(root, images, base)
        make_variants(root, incoming, new, start=base)
    say(f"wrote {base} + {new} images in {meter.phases['add_make_images'].seconds:.1f} s")
    index, copy = folder / "index", folder / "index-for-build"
    with meter.measure("add_base_build"):
        built = run_build(
            images, index_path=index, backbone=args.backbone, weights=args.weights, fresh=True
        )
    out: dict[str, Any] = {"add_base": base, "add_new": new}
    out.update(build_figures(built, bare, "add_base_"))
    say(f"base index of {built.done}: {out['add_base_images_per_s']} images/s")
    shutil.copytree(index, copy)
    indexed = min(images.iterdir())
    incoming.rename(images / "new")

    with meter.measure("add_cli") as phase:
        summary, _ = run_cli(["add", str(images / "new"), "--index", str(index)], cwd=folder)
    out.update(_command_figures(summary, phase.seconds, "add_cli", new=new, base=base))
    say(f"explorer add of {new}: {phase.seconds:.2f} s ({summary['images']} indexed now)")
    build = ["build", str(images), "--index", str(copy), "--backbone", args.backbone]
    build += [*build_weights(args.backbone, args.weights), "--no-report"]
    with meter.measure("add_build_cli") as phase:
        summary, _ = run_cli(build, cwd=folder)
    out.update(_command_figures(summary, phase.seconds, "add_build_cli", new=new, base=base))
    say(f"explorer build with {new} new: {phase.seconds:.2f} s")
    return out, index, indexed


def query_figures(
    args: argparse.Namespace,
    root: Path,
    work: Path,
    *,
    index: Path,
    indexed: Path,
    start: int,
    meter: Meter,
) -> dict[str, Any]:
    """``--queries N``: ``explorer similar`` on ``index`` (see benchmarks/queries.py).

    The N new query images are variants numbered from ``start``, past every
    generated image the index holds.
    """
    from queries import time_queries  # benchmarks/queries.py

    folder = work / "queries"
    make_variants(root, folder, args.queries, start=start)
    return time_queries(
        index, indexed=indexed, new_dir=folder, runs=args.query_runs, meter=meter, cwd=work
    )


def check_targets(args: argparse.Namespace, out: dict[str, Any]) -> dict[str, bool]:
    """Each target of the run, met or not."""
    checks = {
        "ratio_steady_ge_target": (out["build_ratio_steady"] or 0.0) >= TARGET_RATIO,
        "ratio_ge_target": (out["build_ratio"] or 0.0) >= TARGET_RATIO,
        "ratio_incl_load_ge_target": (out["build_ratio_incl_load"] or 0.0) >= TARGET_RATIO,
        "rebuild_without_model": out["rebuild_unchanged_model_free"],
        "rebuild_without_tensorflow": out["rebuild_unchanged_tensorflow_free"],
    }
    if args.rebuild_n:
        checks["build_n_ratio_ge_target"] = (out["build_n_ratio"] or 0.0) >= TARGET_RATIO
        checks["rebuild_n_without_model"] = out["rebuild_unchanged_n_model_free"]
        checks["rebuild_n_without_tensorflow"] = out["rebuild_unchanged_n_tensorflow_free"]
        checks["rebuild_n_within_target_s"] = out["rebuild_unchanged_n_cli_s"] <= TARGET_REBUILD_S
        if "rebuild_unchanged_n_cli_report_s" in out:
            checks["rebuild_n_with_report_within_target_s"] = (
                out["rebuild_unchanged_n_cli_report_s"] <= TARGET_REBUILD_S
            )
    if args.add_base:
        checks["add_counts_ok"] = out["add_cli_counts_ok"] and out["add_build_cli_counts_ok"]
    if args.queries:
        checks["query_indexed_without_tensorflow"] = not (
            out["query_indexed_cli_tensorflow_imported"]
        )
        checks["query_warm_within_target_s"] = (
            max(out["query_indexed_warm_s"], out["query_new_warm_s"]) < TARGET_QUERY_S
        )
        checks["query_cli_matches_in_process"] = out["query_new_cli_matches_in_process"]
    return checks


# ---------------------------------------------------------------- main


def compare_backbones(
    args: argparse.Namespace, pixels: NDArray[np.uint8], meter: Meter
) -> dict[str, Any]:
    """Bare images/s of several backbones on the same images, best of ``--repeat`` rounds."""
    names = [x.strip() for x in args.compare.split(",") if x.strip()]
    result: dict[str, Any] = {}
    for name in names:
        backbone = load_backbone(name, args.weights)
        best = 0.0
        for r in range(args.repeat):
            with meter.measure(f"compare_{name}_{r}"):
                point = time_embed(
                    backbone, pixels, batch_size=backbone.batch_size, images=len(pixels)
                )
            best = max(best, float(point["images_per_s"]))
        result[name] = {"images_per_s": round(best, 3), "batch_size": backbone.batch_size}
        say(f"{name}: {best:.2f} images/s")
        del backbone
    if len(names) == 2 and result[names[0]]["images_per_s"]:
        result["ratio"] = round(
            result[names[1]]["images_per_s"] / result[names[0]]["images_per_s"], 2
        )
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images",
        type=Path,
        action="append",
        required=True,
        help="folder of images; give it again for more folders, each measured in the same "
        "run (bare model and build; the rebuild, add and query figures use the first)",
    )
    parser.add_argument(
        "--decode-stages",
        action="store_true",
        help="also time each step of loading an image (CPU ms per image, one thread), per folder",
    )
    parser.add_argument(
        "--versus-seed",
        action="store_true",
        help="also time the seed project's loop on the first folder: Keras load_img + one "
        "model.predict per image, VGG16 fc2 (random weights: same cost, no download)",
    )
    parser.add_argument("--backbone", default="vgg16", help="backbone name (default: vgg16)")
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="imagenet, random (same cost, no download) or a weights file (default: imagenet)",
    )
    parser.add_argument(
        "--batch-sizes", default="8,16,32", help="comma-separated batch sizes for the sweep"
    )
    parser.add_argument(
        "--rebuild-n",
        type=int,
        default=0,
        help="also build N distinct small images and time their unchanged rebuild",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of (bare model, fresh build); the best of each is reported (default: 1)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each timed step, wait up to this many seconds for other processes "
        "to leave the CPUs idle (for shared machines; default: 0, no wait)",
    )
    parser.add_argument(
        "--quiet-wait-total",
        type=float,
        default=None,
        help="cap on the seconds waited for quiet over the whole run (default: no cap)",
    )
    parser.add_argument(
        "--add-base",
        type=int,
        default=0,
        help="also index N generated images, then time adding --add-fraction more "
        "(explorer add, and explorer build with the new files)",
    )
    parser.add_argument(
        "--add-fraction",
        type=float,
        default=0.01,
        help="new images to add, as a fraction of --add-base (default: 0.01)",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=0,
        help="also time explorer similar: an indexed image, a new image, and N new images "
        "in one call, on the largest index made (--add-base, else --rebuild-n, else --images)",
    )
    parser.add_argument(
        "--query-runs",
        type=int,
        default=3,
        help="timed runs of each query measurement; the best is reported (default: 3)",
    )
    parser.add_argument(
        "--compare",
        default="",
        help="comma-separated backbones (e.g. vgg16,efficientnet-lite0): only time each bare "
        "model on the same decoded images in this one run, side by side",
    )
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--batch-sizes must be integers, got {args.batch_sizes!r}")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--batch-sizes must list integers >= 1")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.rebuild_n < 0:
        parser.error("--rebuild-n must be >= 0")
    if args.add_base < 0 or args.queries < 0:
        parser.error("--add-base and --queries must be >= 0")
    if not 0.0 < args.add_fraction <= 1.0:
        parser.error(f"--add-fraction must lie in (0, 1], got {args.add_fraction}")
    if args.query_runs < 1:
        parser.error("--query-runs must be >= 1")
    if args.quiet_wait_total is not None and args.quiet_wait_total < 0:
        parser.error("--quiet-wait-total must be >= 0")
    args.add_new = max(1, round(args.add_base * args.add_fraction)) if args.add_base else 0
    for folder in args.images:
        if not folder.is_dir():
            parser.error(f"--images: not a folder: {folder}")
    return args


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """All the measurements; returns the JSON-ready result."""
    meter = Meter(quiet_wait=args.quiet_wait, quiet_wait_total=args.quiet_wait_total)
    root = args.images[0].resolve()
    out: dict[str, Any] = {
        "benchmark": "extract",
        "machine": machine_info(LIBRARIES),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "source": source_revision(explorer.__file__),
        "images_dir": str(args.images[0]),
        "backbone": args.backbone,
        "weights": args.weights,
    }
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    say(f"load average at start: {load_at_start}")

    with meter.measure("decode"):
        pixels = decode_folder(root)
    n = len(pixels)
    out["images"] = n
    say(f"decoded {n} images in {meter.phases['decode'].seconds:.2f} s")

    if args.compare:
        out["compare"] = compare_backbones(args, pixels, meter)
        return out

    with meter.measure("bare_model_load"):
        backbone = load_backbone(args.backbone, args.weights)
    out["batch_size"] = backbone.batch_size
    say(f"loaded {args.backbone} in {meter.phases['bare_model_load'].seconds:.1f} s")

    index_path = work / "index"
    bare, best, rounds = measure_rounds(
        args, root, backbone, pixels, index_path=index_path, meter=meter, tag=""
    )
    out["bare_images_per_s"] = bare["images_per_s"]
    out["bare"] = bare
    out.update(build_figures(best, bare, "build_"))
    out["rounds"] = rounds
    say(
        f"best: bare {bare['images_per_s']} images/s; build {out['build_images_per_s']} "
        f"(ratio {out['build_ratio']}), steady {out['build_steady_images_per_s']} "
        f"(ratio {out['build_ratio_steady']})"
    )
    folders = [folder_entry(args.images[0], out, bare, best)]
    for extra in args.images[1:]:
        extra_pixels = decode_folder(extra.resolve())
        extra_bare, extra_best, extra_rounds = measure_rounds(
            args,
            extra.resolve(),
            backbone,
            extra_pixels,
            index_path=work / f"index-{len(folders)}",
            meter=meter,
            tag=f"{len(folders)}_",
        )
        entry = folder_entry(extra, build_figures(extra_best, extra_bare, "build_"), extra_bare)
        entry["rounds"] = extra_rounds
        folders.append(entry)
        say(f"{extra}: {entry}")
    if args.decode_stages:
        for entry, folder in zip(folders, args.images, strict=True):
            paths = [c.path for c in scan_folder(folder.resolve()).candidates][:200]
            with meter.measure(f"decode_stages_{folder.name}"):
                entry["decode_stages"] = stage_costs(paths)
    out["folders"] = folders
    if args.versus_seed:
        out["versus_seed"] = versus_seed(args, root, out, meter=meter)

    sweep = []
    for size in args.batch_sizes:
        with meter.measure(f"sweep_{size}"):
            point = time_embed(backbone, pixels, batch_size=size, images=math.ceil(n / size) * size)
        sweep.append(point)
        say(f"bare model, batch {size}: {point['images_per_s']:.2f} images/s")
    out["batch_sweep"] = sweep
    del backbone
    gc.collect()

    out.update(
        rebuild_figures(
            root,
            index_path=index_path,
            backbone=args.backbone,
            weights=args.weights,
            meter=meter,
            key="rebuild_unchanged",
        )
    )

    # Queries go to the largest index made: the --add-base one, else --rebuild-n's, else the
    # folder's own; their new images are numbered past every generated image it holds.
    query_index, query_indexed, start = index_path, scan_folder(root).candidates[0].path, 0
    if args.rebuild_n:
        figures, query_index, folder = rebuild_n_figures(args, root, work, bare=bare, meter=meter)
        out.update(figures)
        query_indexed, start = min(folder.iterdir()), args.rebuild_n
    if args.add_base:
        figures, query_index, query_indexed = add_figures(args, root, work, bare=bare, meter=meter)
        out.update(figures)
        start = args.add_base + args.add_new
    if args.queries:
        out.update(
            query_figures(
                args, root, work, index=query_index, indexed=query_indexed, start=start, meter=meter
            )
        )

    out["targets"] = {
        "ratio": TARGET_RATIO,
        "rebuild_unchanged_n_s": TARGET_REBUILD_S,
        "query_warm_s": TARGET_QUERY_S,
    }
    out["met"] = check_targets(args, out)
    out["load_average"] = {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]}
    out["quiet_waited_s"] = round(meter.waited_total, 1)
    out["contended_phases"] = meter.contended()
    out["phases"] = meter.summary()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line; exit 1 if a rebuild loaded the model."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # On `kill`, unwind normally so the temporary folder (1,000 images, indexes) goes too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as tmp:
        try:
            result = run(args, Path(tmp))
        except ExplorerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(json.dumps(result))
    model_free = [v for k, v in result.items() if k.endswith("_model_free")]
    return 0 if all(model_free) else 1


if __name__ == "__main__":
    sys.exit(main())
