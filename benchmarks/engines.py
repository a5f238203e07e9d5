"""Extraction throughput of the two engines: ``--engine local`` against ``--engine ray``.

Runs ``explorer build FOLDER --fresh --no-report`` as a user would (a fresh
interpreter each time) with each engine on the same images, alternating them
for ``--repeat`` rounds and keeping each engine's best round (other processes
on a shared machine only ever slow a run down). Prints ONE JSON line:

- ``<engine>_images_per_s``: the build's own steady rate (decoding and the
  network, not the model load), from its ``--json`` summary;
- ``<engine>_wall_s``: the whole command, interpreter start, Ray start-up and
  model loads included; ``<engine>_model_load_s``;
- ``ray_over_local``: the ratio of the two rates.

The Ray engine starts a local Ray instance (``--workers`` actors, one model
each) unless ``RAY_ADDRESS`` names a running cluster. Ray's worker processes
are not children of the benchmark, so instead of timing the load during each
step, the script samples other processes' CPU use for 2 s just before it
(``others_cores_before``).

Usage::

    python benchmarks/engines.py --images data/sample --backbone efficientnet-lite0 --variants 400
    python benchmarks/engines.py --images data/sample --weights random --variants 120
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Meter, machine_info, others_cores, run_cli, say, source_revision
from extract import make_variants  # benchmarks/extract.py: distinct small JPEG variants

import explorer

ENGINES = ("local", "ray")
LIBRARIES = ("tensorflow", "keras", "numpy", "pillow", "ray")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of images")
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--weights", help="vgg16 weights: a file, imagenet or random")
    parser.add_argument(
        "--variants",
        type=int,
        default=0,
        help="build on N distinct JPEG variants of the folder's images instead of the folder",
    )
    parser.add_argument("--workers", type=int, help="Ray workers (default: one per CPU)")
    parser.add_argument("--batch-size", type=int, help="images per model call (both engines)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (local, ray)")
    parser.add_argument("--quiet-wait", type=float, default=0.0, help="max s to wait for quiet")
    return parser.parse_args(argv)


def build_args(args: argparse.Namespace, folder: Path, index: Path, engine: str) -> list[str]:
    """``explorer build`` arguments for one engine."""
    cmd = ["build", str(folder), "--index", str(index), "--fresh", "--no-report"]
    cmd += ["--backbone", args.backbone, "--engine", engine]
    if args.weights:
        cmd += ["--weights", args.weights]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    if engine == "ray" and args.workers:
        cmd += ["--workers", str(args.workers)]
    return cmd


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Alternate the engines; keep each one's best round."""
    folder = args.images.resolve()
    if args.variants:
        folder = work / "variants"
        say(f"making {args.variants} image variants")
        make_variants(args.images, folder, args.variants)
    meter = Meter(quiet_wait=args.quiet_wait)
    rounds: list[dict[str, Any]] = []
    best: dict[str, dict[str, Any]] = {}
    for r in range(args.repeat):
        for engine in ENGINES:
            meter.wait_for_quiet() if args.quiet_wait else None
            before = others_cores(2.0)
            say(f"round {r + 1}: explorer build --engine {engine}")
            start = time.perf_counter()
            summary, _ = run_cli(build_args(args, folder, work / f"idx-{engine}", engine), cwd=work)
            wall = time.perf_counter() - start
            row = {
                "round": r + 1,
                "engine": engine,
                "images": summary["images"],
                "skipped": summary["skipped"],
                "images_per_s": summary["images_per_second"],
                "model_load_s": round(summary["model_load_seconds"], 2),
                "wall_s": round(wall, 2),
                "others_cores_before": round(before, 2),
            }
            rounds.append(row)
            say(json.dumps(row))
            if engine not in best or row["images_per_s"] > best[engine]["images_per_s"]:
                best[engine] = row
    out: dict[str, Any] = {
        "benchmark": "engines",
        "images_dir": str(args.images),
        "variants": args.variants,
        "backbone": args.backbone,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "images": best["local"]["images"],
    }
    for engine in ENGINES:
        for key in ("images_per_s", "model_load_s", "wall_s"):
            out[f"{engine}_{key}"] = best[engine][key]
    out["ray_over_local"] = round(out["ray_images_per_s"] / out["local_images_per_s"], 3)
    out["rounds"] = rounds
    return out


def main(argv: list[str] | None = None) -> int:
    """Run and print one JSON line."""
    args = parse_args(argv)
    info = machine_info(LIBRARIES)
    with tempfile.TemporaryDirectory(prefix="explorer-engines-") as tmp:
        out = run(args, Path(tmp))
    out["machine"] = info
    out["source"] = source_revision(explorer.__file__)
    out["command"] = " ".join(["python", *sys.argv])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
