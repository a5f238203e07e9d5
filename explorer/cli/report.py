"""``explorer report``, and the report options ``build`` shares with it.

``build`` imports ``_parse_clusters`` and ``_check_dup_threshold`` from here:
the report's options, read the same way by the two commands.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from explorer import api
from explorer.api import DEFAULT_INDEX
from explorer.cli._app import (
    ClustersOpt,
    Command,
    DupOpt,
    IndexOpt,
    JsonOpt,
    OutOpt,
    QuietOpt,
    app,
    fail,
    run,
    setup_logging,
    shown,
)
from explorer.cli._console import progress_bars
from explorer.progress import Progress
from explorer.text import count

if TYPE_CHECKING:
    from explorer.jobs.report import ReportSummary


@app.command(cls=Command)
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
    setup_logging(quiet)
    k = _parse_clusters(clusters)
    _check_dup_threshold(dup_threshold)
    with progress_bars(quiet or as_json) as progress:
        done = _report(index, out, k, dup_threshold, seed, progress)
    if as_json:
        data = asdict(done)
        data["path"] = str(done.path)
        typer.echo(json.dumps(data))
        return
    typer.echo(
        f"Report of {count(done.images, 'image')}, {count(done.clusters, 'cluster')} "
        f"({done.cluster_method}), {count(done.duplicate_groups, 'duplicate group')}, "
        f"in {done.seconds:.1f} s:\n  {shown(done.path)}"
    )


def _report(
    index: Path,
    out: Path | None,
    clusters: int | Literal["auto", "stored"],
    dup_threshold: float | None,
    seed: int | None,
    progress: Progress,
) -> ReportSummary:
    return run(
        lambda: api.report(
            index=index,
            out=out,
            clusters=clusters,
            dup_threshold=dup_threshold,
            seed=seed,
            progress=progress,
        ),
        interrupted="interrupted while writing the report; the report was not written "
        "(the index is intact)",
    )


def _check_dup_threshold(value: float | None) -> None:
    from explorer.analysis.params import check_request

    run(lambda: check_request(dup_threshold=value, names={"dup_threshold": "--dup-threshold"}))


def _parse_clusters(value: str | None) -> int | Literal["auto", "stored"]:
    from explorer.analysis.params import check_request

    if value is None:
        return "stored"
    if value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        raise fail(f"--clusters must be 'auto' or a whole number, got {value!r}", 2) from None
    run(lambda: check_request(clusters=k, names={"clusters": "--clusters"}))
    return k
