"""Commands over the catalogue: clusters, tag, untag, export.

Options and output here; the work in :mod:`explorer.jobs.catalog`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from explorer.api import DEFAULT_INDEX
from explorer.cli._app import (
    Command,
    CsvOpt,
    IndexOpt,
    JsonOpt,
    QuietOpt,
    app,
    fail,
    run,
    setup_logging,
    write_or_echo,
)
from explorer.cli._console import progress_bars
from explorer.text import count, display_path


@app.command(cls=Command)
def clusters(
    index: IndexOpt = DEFAULT_INDEX,
    members: Annotated[
        bool, typer.Option("--members", help="List every image with its cluster instead.")
    ] = False,
    top: Annotated[
        int, typer.Option("--top", help="Representative images per cluster.", min=1)
    ] = 5,
    as_csv: CsvOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Describe every cluster: size, name, cohesion and its most representative images.

    Names come from the ImageNet classes that dominate each cluster (computed by
    VGG16 in the same pass as the features). Cohesion is the mean cosine
    similarity of a cluster's images to its centre.

    Examples: explorer clusters; explorer clusters --members --csv > members.csv
    """
    from explorer.jobs import catalog

    setup_logging(quiet)
    with progress_bars(quiet or as_json or as_csv) as progress:
        idx, summaries, labels = run(
            lambda: catalog.clusters(index, per_cluster=top, progress=progress)
        )
    paths = catalog.openable_paths(idx)
    if members:
        rows = [
            {"path": p, "cluster": c, "cluster_name": summaries[c].name}
            for p, c in zip(paths, labels, strict=True)
        ]
        if as_json:
            typer.echo(json.dumps(rows))
        else:
            write_or_echo(catalog.rows_csv(rows, ["path", "cluster", "cluster_name"]), None)
        return
    table = [
        {
            "cluster": c.cluster,
            "name": c.name,
            "size": c.size,
            "cohesion": round(c.cohesion, 4),
            "representatives": [paths[i] for i in c.representatives],
            "classes": [[n, round(share, 4)] for n, share in c.classes],
        }
        for c in summaries
    ]
    if as_json:
        typer.echo(json.dumps(table))
    elif as_csv:
        rows = [
            {
                "cluster": c.cluster,
                "name": c.name,
                "size": c.size,
                "cohesion": round(c.cohesion, 4),
                "representatives": ";".join(paths[i] for i in c.representatives),
                "classes": ";".join(f"{n}:{share:.4f}" for n, share in c.classes),
            }
            for c in summaries
        ]
        columns = ["cluster", "name", "size", "cohesion", "representatives", "classes"]
        write_or_echo(catalog.rows_csv(rows, columns), None)
    else:
        for c in summaries:
            typer.echo(
                f"cluster {c.cluster:<3} {c.size:>6} {'image ' if c.size == 1 else 'images'}  "
                f"cohesion {c.cohesion:.2f}  {c.name}"
            )
            for i in c.representatives:
                typer.echo(f"    {display_path(paths[i])}")


def _refuse_path_tag(label: str, command: str, usage: str) -> None:
    from explorer.inputs.scan import IMAGE_EXTENSIONS

    if os.path.lexists(label) or os.path.splitext(label)[1].lower() in IMAGE_EXTENSIONS:
        # 'explorer tag a.jpg b.jpg' with the tag forgotten would tag a.jpg with "b.jpg"
        raise fail(
            f"the last argument is the tag, but {label!r} is "
            f"{'a file' if os.path.lexists(label) else 'an image file name'}; give the tag "
            f"last: explorer {command} {usage}",
            2,
        )


def _tag_command(args: list[str], index: Path, cluster: int | None, *, remove: bool) -> None:
    from explorer.jobs import catalog

    if not args:
        raise fail("give the tag as the last argument", 2)
    *files, label = args
    _refuse_path_tag(label, "untag" if remove else "tag", "FILE... TAG")
    missing = [f for f in files if not os.path.lexists(f)]
    if missing:
        raise fail(f"no such file: {missing[0]}", 2)
    changed = run(
        lambda: catalog.tag(
            index, label, files=[Path(f) for f in files], cluster=cluster, remove=remove
        )
    )
    verb = "removed from" if remove else "added to"
    if changed:
        typer.echo(f"tag {label!r} {verb} {count(changed, 'image')}")
    elif remove:
        typer.echo(f"tag {label!r}: no image chosen had it; nothing changed")
    else:
        typer.echo(f"tag {label!r}: every image chosen already had it; nothing changed")


ClusterOpt = Annotated[int | None, typer.Option("--cluster", help="Every image of this cluster.")]
TagArgs = Annotated[
    list[str], typer.Argument(help="Image files (optional), then the tag.", metavar="[FILE]... TAG")
]


ImportOpt = Annotated[
    Path | None,
    typer.Option("--import", help="Merge a tag file the report exported (JSON or CSV)."),
]
FromOpt = Annotated[
    Path | None,
    typer.Option("--from", help="Tag every image of a selection.csv the report downloaded."),
]


@app.command(cls=Command)
def tag(
    args: Annotated[
        list[str] | None,
        typer.Argument(help="Image files (optional), then the tag.", metavar="[FILE]... TAG"),
    ] = None,
    index: IndexOpt = DEFAULT_INDEX,
    cluster: ClusterOpt = None,
    import_file: ImportOpt = None,
    from_csv: FromOpt = None,
) -> None:
    """Tag images: the files given and/or every image of a cluster.

    Tags are kept in the index folder and survive 'build' re-runs and 'add'.
    Tags added in the report page come back with --import; a selection
    downloaded from the page with --from.

    Examples: explorer tag --cluster 3 "tabby"; explorer tag img1.jpg img2.jpg "indoor";
    explorer tag --import explorer-tags.json; explorer tag --from selection.csv "keep"
    """
    if import_file is not None or from_csv is not None:
        _tag_from_file(args or [], index, import_file, from_csv, cluster)
        return
    _tag_command(args or [], index, cluster, remove=False)


def _tag_from_file(
    args: list[str],
    index: Path,
    import_file: Path | None,
    from_csv: Path | None,
    cluster: int | None,
) -> None:
    from explorer.jobs import catalog

    if cluster is not None or (import_file is not None and (args or from_csv is not None)):
        raise fail("--import takes a file and nothing else; --from a file and one tag", 2)
    if import_file is not None:
        done = run(lambda: catalog.import_tags(index, import_file))
        what = f"{count(done.added, 'new tag')} on {count(done.images, 'image')}"
    else:
        if len(args) != 1 or from_csv is None:
            raise fail(
                "give one tag after --from FILE, e.g. explorer tag --from selection.csv keep", 2
            )
        label = args[0]
        _refuse_path_tag(label, "tag", "--from selection.csv TAG")
        done = run(lambda: catalog.tag_selection(index, from_csv, label))
        what = f"tag {label!r} added to {done.added} of {done.images} images"
    typer.echo(what)
    if done.n_unknown:
        shown = ", ".join(display_path(p) for p in done.unknown)
        typer.echo(f"skipped {count(done.n_unknown, 'path')} not in the index: {shown}", err=True)


@app.command(cls=Command)
def untag(args: TagArgs, index: IndexOpt = DEFAULT_INDEX, cluster: ClusterOpt = None) -> None:
    """Remove a tag from the files given and/or every image of a cluster.

    Example: explorer untag img1.jpg "indoor"
    """
    _tag_command(args, index, cluster, remove=True)


@app.command(cls=Command)
def export(
    index: IndexOpt = DEFAULT_INDEX,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv/--no-csv", help="CSV (the default, unless --json).")
    ] = True,
    gps: Annotated[
        bool,
        typer.Option(
            "--gps",
            help="Add latitude and longitude columns, read from the files "
            "(the index never stores locations).",
        ),
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Export one row per image: cluster, tags, duplicate group, capture date, camera, size.

    CSV by default (tags joined by ';', empty cells for images in no group);
    --json writes a list of objects (tags as a list, null for no group).

    Example: explorer export --csv --out catalogue.csv
    """
    if not as_csv and not as_json:
        raise fail("--no-csv needs --json: choose an output format", 2)
    from explorer.jobs import catalog

    setup_logging(quiet)
    with progress_bars(True) as progress:
        rows = run(lambda: catalog.export_rows(index, gps=gps, progress=progress))
    columns = catalog.EXPORT_COLUMNS + (catalog.GPS_COLUMNS if gps else ())
    if as_json:
        write_or_echo(json.dumps(rows) + "\n", out)
    else:
        write_or_echo(catalog.rows_csv(rows, columns), out)
