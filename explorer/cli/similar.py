"""``explorer similar``: the indexed images most like each query, as a table, JSON or a picture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from explorer import api
from explorer.api import DEFAULT_INDEX
from explorer.cli._app import (
    Command,
    IndexOpt,
    JsonOpt,
    QuietOpt,
    WeightsOpt,
    app,
    applicable_weights,
    fail,
    relative,
    run,
    setup_logging,
    shown,
)
from explorer.cli._console import progress_bars


@app.command(cls=Command)
def similar(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Query images and/or folders.")],
    index: IndexOpt = DEFAULT_INDEX,
    k: Annotated[int, typer.Option("--top", "-k", help="Results per query.", min=1)] = 5,
    weights: WeightsOpt = None,
    save: Annotated[
        Path | None,
        typer.Option(
            help="Also write a picture: each query beside its results, in the format the "
            "extension names (.png, .jpg, .webp)."
        ),
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
    setup_logging(quiet)
    weights = applicable_weights(ctx, weights, index, None)
    if save is not None:
        from explorer.jobs.grid import grid_format

        run(lambda: grid_format(save))  # an unknown extension is refused before any work
    with progress_bars(quiet or as_json) as progress:
        results = run(
            lambda: api.similar(images, index=index, k=k, weights=weights, progress=progress)
        )
    for result in results:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "query": relative(result.query),
                        "skipped": result.skipped,
                        "results": [
                            {"rank": m.rank, "path": relative(m.path), "score": round(m.score, 4)}
                            for m in result.matches
                        ],
                    }
                )
            )
            continue
        typer.echo(shown(result.query))
        if result.skipped:
            typer.echo(f"  skipped: {result.skipped}")
            continue
        typer.echo(f"  {'rank':>4}  {'score':>6}  path")
        for m in result.matches:
            typer.echo(f"  {m.rank:>4}  {m.score:>6.3f}  {shown(m.path)}")
    if save is not None:
        from explorer.jobs.grid import save_grid

        run(lambda: save_grid(results, save))
        if not as_json:
            typer.echo(f"grid: {shown(save)}")
    if all(r.skipped for r in results):
        raise fail("no query image could be read")
