"""Post-processing at scale: every step after feature extraction, on synthetic features.

No model runs: ``--n`` synthetic 4096-d features stand in for VGG16 fc2 outputs,
then each product step runs exactly as ``explorer build`` + ``explorer report``
run it, and is timed with its peak memory:

1. ``pca_s``: :func:`explorer.analysis.pca.fit_projection` on the float16 features.
2. ``project_s``: :func:`explorer.analysis.pca.project` (PCA, then L2 normalisation).
3. ``save_index_s``: :func:`explorer.store.index.save_index` of a complete
   :class:`explorer.store.index.IndexData` (features, vectors, PCA, thumbnails, classes).
4. ``explorer.jobs.report.report`` on the saved index, which opens it, computes the
   analysis, stores it and writes the HTML page. Its inner steps are timed by
   wrapping the functions it calls (the calls themselves are unchanged):
   ``neighbors_s`` (:func:`explorer.analysis.knn.neighbor_graph`), ``kmeans_s``
   (:func:`explorer.analysis.clustering.cluster`, automatic k), ``umap_s``
   (:func:`explorer.analysis.layout.embed_2d`), ``duplicates_s``
   (:func:`explorer.analysis.duplicates.find_duplicates`, called twice: in the analysis
   and for the page), ``save_analysis_s`` (:func:`explorer.store.index.save_analysis`)
   and ``report_s``: the rest of ``report`` (opening the index, reading the
   thumbnails, cluster names, representatives, the duplicate histogram) plus
   :func:`explorer.page.render.write_report` (the page and, above 10,000 images,
   the thumbnail sidecar folder).

``total_s`` is the sum of those stages (data generation excluded).
``peak_rss_mb`` is the largest resident set of the process during them (the
kernel's high-water mark ``VmHWM``, reset before each stage through
``/proc/self/clear_refs``, so each stage also gets its own peak); the float16
features and the thumbnails are held throughout, as in a real build.
``report_mb`` is the page plus its sidecar folder.

``neighbors_s`` is the exact graph up to ``EXACT_GRAPH_LIMIT`` images (50,000)
and NN-descent above (``graph`` in the output says which; ``--exact-limit N``
moves the switch, e.g. ``--exact-limit 1000000`` for the exact graph at 100k).
In a fresh process the NN-descent figure includes about 40 s of numba
compilation, and ``umap_s`` includes importing umap (which imports TensorFlow,
about 9 s) and compiling its numba code.

Optional extras (not in ``total_s``): ``--query`` times ``explorer.jobs.similar.similar``
for an indexed image in this process (first call, then the best of 5) and
``python -m explorer similar`` as a fresh process (best of 3); ``--browser``
opens the report in headless Chromium with ``check_report_in_browser`` from
``tests/browser_harness.py`` and saves ``screenshot.png`` next to it; ``--recall M``
compares the approximate neighbour graph with the exact one on M sampled rows.

Synthetic data: a mixture of Gaussian clusters (``min(300, n // 40)``, sizes
falling off like 1 / rank) in a 64-d latent space, mapped linearly to ``--dim``
dimensions plus independent noise and passed through a ReLU, so the features
are non-negative and sparse-ish like fc2 outputs and their PCA spectrum decays.
Distinct images' nearest neighbours score about 0.4-0.75 (cosine after PCA).
1% of the images are near-duplicates of another one (its latent point moved a
little: cosine 0.8-0.95). Thumbnails: 64 px WebPs (a flat colour plus noise,
about 2 KB each); one is encoded per cluster and reused by its members, since
encoding 100,000 distinct ones would take longer than some of the steps measured.
Record 0 is named ``<img src=x onerror=alert(1)>.jpg``, and the first three
records are real JPEG files under ``OUT/photos`` (so ``explorer similar`` can
query them); the rest exist only in the index.

Usage::

    python benchmarks/postprocess.py --n 10000
    python benchmarks/postprocess.py --n 100000 --out-dir /tmp/pp100k --query --browser \
        --recall 20000

The index, report and screenshot stay in ``--out-dir``; without it they go to a
temporary folder that is removed at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from common import (  # benchmarks/common.py (run as scripts)
    busy_cpu_seconds,
    machine_info,
    patched,
    say,
)
from numpy.typing import NDArray

import explorer.analysis.duplicates
import explorer.analysis.stored
import explorer.page.render
from explorer.analysis.knn import EXACT_GRAPH_LIMIT
from explorer.analysis.pca import fit_projection, project
from explorer.features.base import BackboneInfo
from explorer.jobs.report import report
from explorer.store.commit import save_index
from explorer.store.records import ImageRecord, IndexData

HOSTILE = "<img src=x onerror=alert(1)>.jpg"  # one file name the browser check searches for
LATENT = 64  # dimension of the latent space the clusters live in
DUP_SHARE = 0.01  # share of images that are near-duplicates of another one
THUMB_SIDE = 64
REAL_FILES = 3  # images written to disk, so that 'explorer similar' can query them
TARGET_TOTAL_S = 600.0  # issue 8: all post-extraction stages under 10 minutes at 100k
TARGET_PEAK_MB = 6 * 1024.0  # and under 6 GB of memory

LIBRARIES = ("numpy", "scipy", "scikit-learn", "umap-learn", "pynndescent", "bokeh")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Meter:
    """Times named stages (which may nest) with their own and everyone's peak memory.

    Each stage records its wall time, this process's CPU time (``cpu_s``; above
    the wall time means several cores worked), the mean number of cores other
    processes kept busy meanwhile (``others_cores``: a busy machine slows every
    figure), and the peak RSS while it ran. A stage that runs several times
    (``find_duplicates``) adds up.
    """

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, Any]] = {}
        self._open: list[str] = []
        self.peak_kb = 0
        self.can_reset = _reset_peak()

    def _fold(self) -> None:
        hwm = _status_kb("VmHWM")
        self.peak_kb = max(self.peak_kb, hwm)
        for name in self._open:
            st = self.stages[name]
            st["_peak_kb"] = max(st["_peak_kb"], hwm)
        if self.can_reset:
            _reset_peak()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Measure the block as stage ``name``."""
        self._fold()
        st = self.stages.setdefault(
            name, {"s": 0.0, "cpu_s": 0.0, "_others": 0.0, "calls": 0, "_peak_kb": 0}
        )
        self._open.append(name)
        busy, own, start = busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            cpu = _own_cpu_seconds() - own
            st["s"] += seconds
            st["cpu_s"] += cpu
            st["_others"] += max(0.0, (busy_cpu_seconds() - busy) - cpu)
            st["calls"] += 1
            self._fold()
            self._open.pop()
            say(f"  {name}: {seconds:.2f} s, peak {st['_peak_kb'] / 1024:.0f} MB")

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` measured as stage ``name`` on every call."""

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return func(*args, **kwargs)

        return wrapped

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per stage: seconds, CPU seconds, other processes' cores, calls, peak MB."""
        out = {}
        for name, st in self.stages.items():
            out[name] = {
                "s": round(st["s"], 3),
                "cpu_s": round(st["cpu_s"], 2),
                "others_cores": round(st["_others"] / st["s"], 2) if st["s"] > 0 else 0.0,
                "calls": st["calls"],
                "peak_rss_mb": round(st["_peak_kb"] / 1024, 1),
            }
        return out


# ---------------------------------------------------------------- synthetic data


def make_features(
    n: int, dim: int, *, seed: int, spread: float = 1.5, dup_noise: float = 0.8
) -> tuple[NDArray[np.float16], NDArray[np.int32], NDArray[np.int64]]:
    """Clustered, non-negative ``(n, dim)`` float16 features.

    Args:
        n: Rows.
        dim: Feature width.
        seed: Seed of everything drawn.
        spread: Standard deviation of the images around their cluster centre in
            the latent space (the centres are standard normal).
        dup_noise: Standard deviation of the latent change that turns an image
            into its near-duplicate.

    Returns:
        ``(features, cluster of each row, dup_of)`` where ``dup_of[i]`` is the
        row that row ``i`` near-duplicates, or -1.
    """
    rng = np.random.default_rng(seed)
    k = int(np.clip(n // 40, 2, 300))
    weights = 1.0 / (np.arange(k) + 5.0)
    labels = rng.choice(k, size=n, p=weights / weights.sum()).astype(np.int32)
    centres = rng.standard_normal((k, LATENT)).astype(np.float32)
    mixing = (rng.standard_normal((LATENT, dim)) / np.sqrt(LATENT)).astype(np.float32)
    bias = rng.normal(-0.2, 0.3, size=dim).astype(np.float32)
    z = centres[labels] + spread * rng.standard_normal((n, LATENT), dtype=np.float32)
    # Near-duplicates: the last rows are slightly changed copies of earlier ones.
    dup_of = np.full(n, -1, dtype=np.int64)
    n_dup = int(n * DUP_SHARE) if n >= 200 else 0
    if n_dup:
        copies = np.arange(n - n_dup, n)
        sources = rng.choice(n - n_dup, size=n_dup, replace=False)
        z[copies] = z[sources] + dup_noise * rng.standard_normal((n_dup, LATENT), dtype=np.float32)
        labels[copies] = labels[sources]
        dup_of[copies] = sources
    features = np.empty((n, dim), dtype=np.float16)
    block = 4096
    for start in range(0, n, block):
        stop = min(start + block, n)
        x = z[start:stop] @ mixing + bias
        x += 0.45 * rng.standard_normal((stop - start, dim), dtype=np.float32)
        np.maximum(x, 0.0, out=x)
        features[start:stop] = x
    return features, labels, dup_of


def make_thumbnails(labels: NDArray[np.int32], *, seed: int) -> list[bytes]:
    """One 64 px WebP (flat colour + noise) per cluster, shared by its members."""
    from PIL import Image

    rng = np.random.default_rng(seed + 1)
    pool = []
    for _ in range(int(labels.max()) + 1):
        colour = rng.integers(40, 216, size=3)
        pixels = colour + rng.normal(0, 30, size=(THUMB_SIDE, THUMB_SIDE, 3))
        im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        buf = io.BytesIO()
        im.save(buf, "WEBP", quality=80, method=2)
        pool.append(buf.getvalue())
    return [pool[int(c)] for c in labels]


def make_records(n: int, labels: NDArray[np.int32], root: Path, *, seed: int) -> list[ImageRecord]:
    """Plausible records; the first few are real JPEG files under ``root``.

    Record 0 carries a hostile file name (HTML in it), for the browser check.
    """
    from PIL import Image

    rng = np.random.default_rng(seed + 2)
    records = []
    for i in range(n):
        folder = f"album_{int(labels[i]) % 97:02d}"
        name = HOSTILE if i == 0 else f"IMG_{i:06d}.jpg"
        rel = f"{folder}/{name}"
        if i < REAL_FILES:
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
            Image.new("RGB", (320, 240), colour).save(path, "JPEG", quality=90)
            st = path.stat()
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            records.append(ImageRecord(rel, st.st_size, st.st_mtime_ns, sha, 320, 240))
        else:
            sha = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
            records.append(
                ImageRecord(rel, 150_000 + i, 1_700_000_000_000_000_000, sha, 4032, 3024)
            )
    return records


def make_classes(
    labels: NDArray[np.int32], *, seed: int
) -> tuple[NDArray[np.int16], NDArray[np.float16]]:
    """Top-5 ImageNet classes per image, drawn around a few classes per cluster."""
    rng = np.random.default_rng(seed + 3)
    k = int(labels.max()) + 1
    per_cluster = rng.integers(0, 1000, size=(k, 8))
    pick = rng.integers(0, 8, size=(len(labels), 5))
    ids = np.take_along_axis(per_cluster[labels], pick, axis=1).astype(np.int16)
    probs = np.sort(rng.dirichlet(np.ones(6), size=len(labels))[:, :5], axis=1)[:, ::-1]
    return ids, probs.astype(np.float16)


def folder_mb(path: Path) -> float:
    """Total size of the files under ``path`` (or of ``path`` itself), in MB."""
    if path.is_file():
        return path.stat().st_size / 1e6
    if not path.is_dir():
        return 0.0
    return sum(e.stat().st_size for e in os.scandir(path) if e.is_file()) / 1e6


# ---------------------------------------------------------------- extras


def time_queries(index_path: Path, query: Path, *, repeat: int = 5) -> dict[str, Any]:
    """``explorer.jobs.similar.similar`` on an indexed image: in process, and as a command."""
    from explorer.jobs.similar import similar

    out: dict[str, Any] = {"query_indexed": True}
    start = time.perf_counter()
    first = similar([query], index_path=index_path, k=5)
    out["similar_first_call_s"] = round(time.perf_counter() - start, 3)
    if not first[0].indexed or len(first[0].matches) != 5:
        raise SystemExit(f"query of an indexed image went wrong: {first[0]}")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        similar([query], index_path=index_path, k=5)
        times.append(time.perf_counter() - start)
    out["similar_warm_s"] = round(min(times), 3)
    out["similar_warm_median_s"] = round(float(np.median(times)), 3)
    cmd = [sys.executable, "-m", "explorer", "similar", str(query), "--index", str(index_path)]
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=False)
        runs.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    out["similar_subprocess_s"] = round(min(runs), 3)
    out["similar_subprocess_runs_s"] = [round(r, 3) for r in runs]
    out["similar_command"] = "python -m explorer similar QUERY --index INDEX --json"
    return out


def check_browser(html: Path, screenshot: Path) -> dict[str, Any]:
    """``check_report_in_browser`` from tests/browser_harness.py on the report."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path.insert(0, str(tests))
    from browser_harness import check_report_in_browser

    r = check_report_in_browser(html, HOSTILE, screenshot=screenshot, timeout_ms=120_000)
    keep = ("load_s", "n", "hostile_index", "searched_pin", "pinned_name", "injected")
    out = {k: r.get(k) for k in keep}
    out["load_s"] = round(float(r["load_s"]), 2)
    out["errors"] = r["console_errors"] + r["page_errors"] + r["dialogs"]
    out["tooltip_images_loaded"] = bool(r["tooltip_images"]) and all(
        w > 0 for w in r["tooltip_images"]
    )
    out["panel_images_loaded"] = bool(r["panel_images"]) and all(w > 0 for w in r["panel_images"])
    out["screenshot"] = str(screenshot)
    return out


def graph_recall(vectors: NDArray[np.float32], *, sample: int, seed: int) -> dict[str, Any]:
    """How much of the exact neighbour graph the approximate one finds, on a sample.

    Both graphs are computed on the same seeded sample of ``sample`` vectors
    (15 neighbours, as the report uses). ``recall_at_K``: the share of each
    image's exact top-K that the approximate top-K holds. ``dup_edges_recall``:
    the share of exact edges at or above the default near-duplicate threshold
    that the approximate graph also has.
    """
    from explorer.analysis.knn import approximate_neighbor_graph, exact_neighbor_graph
    from explorer.analysis.stored import GRAPH_NEIGHBORS
    from explorer.features.base import DEFAULT_DUP_THRESHOLD

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False))
    x = np.ascontiguousarray(vectors[rows])
    m = len(rows)
    start = time.perf_counter()
    exact, exact_sc = exact_neighbor_graph(x, k=GRAPH_NEIGHBORS)
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    approx, _ = approximate_neighbor_graph(x, k=GRAPH_NEIGHBORS, seed=seed)
    approx_s = time.perf_counter() - start
    out: dict[str, Any] = {"sample": m, "exact_s": round(exact_s, 2)}
    out["approximate_s"] = round(approx_s, 2)  # includes numba compilation in a fresh process
    for kk in (1, 5, GRAPH_NEIGHBORS):
        hits = (approx[:, :kk, None] == exact[:, None, :kk]).any(axis=2).sum()
        out[f"recall_at_{kk}"] = round(float(hits) / (m * kk), 4)
    dup = exact_sc >= DEFAULT_DUP_THRESHOLD
    found = (exact[:, :, None] == approx[:, None, :]).any(axis=2)
    out["dup_edges_exact"] = int(dup.sum())
    out["dup_edges_recall"] = (
        round(float((found & dup).sum()) / dup.sum(), 4) if dup.any() else None
    )
    return out


# ---------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generate the data, run every stage, return the figures."""
    n, dim, seed = args.n, args.dim, args.seed
    out_dir = Path(args.out_dir) if args.out_dir else Path(tempfile.mkdtemp(prefix="pp-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    root, index_path, html = out_dir / "photos", out_dir / "index", out_dir / "report.html"
    for stale in (index_path, out_dir / "report_files"):
        shutil.rmtree(stale, ignore_errors=True)
    root.mkdir(exist_ok=True)
    figures: dict[str, Any] = {"n": n, "dim": dim, "seed": seed}
    machine = machine_info(LIBRARIES)  # before anything runs: the date and load are the start's
    limit = EXACT_GRAPH_LIMIT if args.exact_limit is None else args.exact_limit
    figures["graph"] = "exact" if n <= limit else "nn-descent"

    say(f"generating {n:,} synthetic {dim}-d features, thumbnails and records")
    start = time.perf_counter()
    features, truth, dup_of = make_features(n, dim, seed=seed)
    thumbs = make_thumbnails(truth, seed=seed)
    records = make_records(n, truth, root, seed=seed)
    class_ids, class_probs = make_classes(truth, seed=seed)
    figures["generate_s"] = round(time.perf_counter() - start, 2)
    figures["thumb_kb_mean"] = round(float(np.mean([len(t) for t in thumbs])) / 1024, 2)
    figures["true_clusters"] = int(truth.max()) + 1
    figures["planted_duplicate_pairs"] = int((dup_of >= 0).sum())
    say(f"generated in {figures['generate_s']} s")

    meter = Meter()
    with meter.stage("pca"):
        projection = fit_projection(features, seed=seed)
    with meter.stage("project"):
        vectors = project(features, projection)
    backbone = BackboneInfo("vgg16", "fc2", dim, "synthetic", "0" * 64)
    data = IndexData(
        root=str(root.resolve()),
        backbone=backbone,
        records=records,
        skipped=[],
        features=features,
        vectors=vectors,
        projection=projection,
        thumbnails=thumbs,
        class_ids=class_ids,
        class_probs=class_probs,
        meta={"seed": seed, "synthetic": True},
    )
    with meter.stage("save_index"):
        save_index(index_path, data)
    del data

    import explorer.page.render as report_module

    with contextlib.ExitStack() as stack:
        wrap = [
            (explorer.analysis.stored, "neighbor_graph", "neighbors"),
            (explorer.analysis.stored, "cluster", "kmeans"),
            (explorer.analysis.stored, "embed_2d", "umap"),
            (explorer.analysis.duplicates, "find_duplicates", "duplicates"),
            (explorer.analysis.stored, "save_analysis", "save_analysis"),
            (report_module, "write_report", "write_report"),
        ]
        for module, attr, stage in wrap:
            func = getattr(module, attr)
            if attr == "neighbor_graph" and args.exact_limit is not None:
                func = functools.partial(func, exact_limit=args.exact_limit)
            stack.enter_context(patched(module, attr, meter.wrap(stage, func)))
        with meter.stage("explore_report"):
            summary = report(index_path, out=html, seed=seed)

    stages = meter.summary()
    inner = ("neighbors", "kmeans", "umap", "duplicates", "save_analysis")
    report_rest = stages["explore_report"]["s"] - sum(stages[s]["s"] for s in inner)
    order = ("pca", "project", "save_index", *inner)
    for name in order:
        figures[f"{name}_s"] = stages[name]["s"]
    figures["report_s"] = round(report_rest, 3)
    figures["write_report_s"] = stages["write_report"]["s"]  # part of report_s
    figures["total_s"] = round(sum(figures[f"{s}_s"] for s in order) + report_rest, 2)
    figures["peak_rss_mb"] = round(meter.peak_kb / 1024, 1)
    figures["peak_rss_per_stage"] = meter.can_reset
    figures["report_mb"] = round(folder_mb(html) + folder_mb(out_dir / "report_files"), 1)
    figures["report_html_mb"] = round(folder_mb(html), 1)
    figures["index_mb"] = round(folder_mb(index_path), 1)
    figures["clusters"] = summary.clusters
    figures["cluster_method"] = summary.cluster_method
    figures["duplicate_groups"] = summary.duplicate_groups
    figures["stages"] = stages
    figures["targets"] = {
        "total_under_10_min": figures["total_s"] < TARGET_TOTAL_S,
        "peak_under_6_gb": figures["peak_rss_mb"] < TARGET_PEAK_MB,
    }
    del features, thumbs
    if args.recall:
        say(f"recall of the approximate graph on a {args.recall:,} sample")
        figures["graph_recall"] = graph_recall(vectors, sample=args.recall, seed=seed)
    if args.query:
        say("timing 'explorer similar' on an indexed image")
        query = root / Path(records[1].path)
        figures["query"] = time_queries(index_path, query)
    if args.browser:
        say("opening the report in headless Chromium")
        figures["browser"] = check_browser(html, out_dir / "screenshot.png")
    figures["out_dir"] = str(out_dir)
    figures["machine"] = machine
    if not args.keep and not args.out_dir:
        shutil.rmtree(out_dir, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True, help="number of synthetic images")
    parser.add_argument("--dim", type=int, default=4096, help="feature width (VGG16 fc2: 4096)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", help="where the index and report go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--query", action="store_true", help="also time 'explorer similar'")
    parser.add_argument("--browser", action="store_true", help="also open the report in Chromium")
    parser.add_argument(
        "--exact-limit", type=int, metavar="N",
        help="most images for an exact neighbour graph (default: explorer's EXACT_GRAPH_LIMIT)",
    )  # fmt: skip
    parser.add_argument(
        "--recall", type=int, default=0, metavar="M",
        help="also measure the approximate graph's recall against the exact one on M rows",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.n < 10:
        parser.error("--n must be >= 10")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
