"""Commands over the catalogue: duplicates, clusters, tag, untag, export.

Registered on the same Typer app as :mod:`explorer.cli.main`; same conventions:
options and output here, the work in :mod:`explorer.jobs.catalog`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from explorer.cli.main import (
    DEFAULT_INDEX,
    Command,
    IndexOpt,
    JsonOpt,
    QuietOpt,
    _fail,
    _progress,
    _run,
    _setup_logging,
    app,
)
from explorer.inputs.images import IMAGE_EXTENSIONS, display_path
from explorer.text import count

CsvOpt = Annotated[bool, typer.Option("--csv", help="CSV on stdout.")]


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _write_or_echo(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        return
    from explorer.store.folder import write_output_bytes

    _run(lambda: write_output_bytes(out, text.encode("utf-8", "surrogateescape")))
    typer.echo(f"wrote {out}", err=True)


@app.command(cls=Command)
def duplicates(
    index: IndexOpt = DEFAULT_INDEX,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Cosine similarity in (0, 1] (raw backbone features) from which images may "
            "be near-duplicates [default: the report's, else the backbone's calibrated one].",
            show_default=False,
        ),
    ] = None,
    histogram: Annotated[
        bool, typer.Option("--histogram", help="Show pair counts per threshold to choose one.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the plan as CSV to this file.")
    ] = None,
    move_to: Annotated[
        Path | None,
        typer.Option(
            "--move-to",
            help="Move every 'review' image into this folder (keeping its path under the "
            "indexed folder) and write an undo journal there. Never deletes.",
        ),
    ] = None,
    undo: Annotated[
        Path | None,
        typer.Option("--undo", help="Put back every file a --move-to into this folder moved."),
    ] = None,
    as_csv: CsvOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List groups of near-duplicate and exact-duplicate images, with a suggested keeper.

    The keeper is the largest resolution, then the sharpest, then the largest
    file, then a name that does not say "copy", then the oldest; the reason is
    shown. --out plan.csv writes the plan; --move-to DIR moves the 'review'
    images into DIR (refused if a target exists) and --undo DIR puts them
    back. --histogram shows how many pairs lie above each threshold, with
    example pairs near the cut.

    Examples: explorer duplicates; explorer duplicates --threshold 0.95 --out plan.csv;
    explorer duplicates --move-to ../review; explorer duplicates --undo ../review;
    explorer duplicates --histogram
    """
    from explorer.analysis.keepers import plan_csv
    from explorer.jobs import catalog

    _setup_logging(quiet)
    if undo is not None:
        from explorer.jobs.moves import undo_moves

        done = _run(lambda: undo_moves(undo))
        typer.echo(
            f"put back {done.moved} files ({done.already} were already in place)"
            + (f"; not found at either place: {len(done.missing)}" if done.missing else "")
        )
        for path in done.missing or []:
            typer.echo(f"  missing {display_path(path)}", err=True)
        if done.missing:
            raise typer.Exit(1)
        return
    if histogram:
        with _progress(quiet or as_json) as progress:
            cal = _run(lambda: catalog.calibrate(index, threshold=threshold, progress=progress))
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "threshold": cal.threshold,
                        "counts": cal.counts,
                        "above": cal.above,
                        "below": cal.below,
                        "curve": cal.curve,
                    }
                )
            )
            return
        top = max((c for _, c in cal.counts), default=0) or 1
        typer.echo("threshold  pairs (among each image's 15 nearest neighbours)")
        for t, c in cal.counts:
            mark = "  <- current" if abs(t - cal.threshold) < 1e-9 else ""
            typer.echo(f"  {t:.2f}  {c:>7}  {'█' * max(0, round(30 * c / top))}{mark}")
        typer.echo("rank  cosine  pixel check  (the r-th best pair: cut where the curve bends)")
        for rank, score, ok in cal.curve:
            mark = "  <- current" if score >= cal.threshold > _next(cal.curve, rank) else ""
            check = "-" if ok is None else ("passes" if ok else "fails")
            typer.echo(f"  {rank:>6}  {score:.3f}  {check:<6}{mark}")
        typer.echo(f"pairs just above {cal.threshold:.2f}:")
        for a, b, score in cal.above:
            typer.echo(f"  {score:.3f}  {display_path(a)}  ~  {display_path(b)}")
        typer.echo(f"pairs just below {cal.threshold:.2f}:")
        for a, b, score in cal.below:
            typer.echo(f"  {score:.3f}  {display_path(a)}  ~  {display_path(b)}")
        return
    with _progress(quiet or as_json or as_csv) as progress:
        idx, sets, t = _run(
            lambda: catalog.duplicates(index, threshold=threshold, progress=progress)
        )
    if out is not None:
        _write_or_echo(plan_csv(sets), out)
    if move_to is not None:
        from explorer.jobs.moves import move_reviews

        moved = _run(lambda: move_reviews(sets, root=Path(idx.root), dest=move_to))
        typer.echo(
            f"moved {moved.moved} images into {move_to} (journal {moved.journal.name}); "
            f"undo with: explorer duplicates --undo {move_to}"
        )
        return
    if as_csv:
        _write_or_echo(plan_csv(sets), None)
        return
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "threshold": t,
                    "groups": [
                        {
                            "group": s.group,
                            "exact": s.exact,
                            "keep_reason": s.reason,
                            "members": [
                                {
                                    "path": m.path,
                                    "keep": m.keep,
                                    "exact": m.exact,
                                    "score": m.score,
                                    "width": m.width,
                                    "height": m.height,
                                    "bytes": m.size,
                                    "mtime_ns": m.mtime_ns,
                                    "sharpness": m.sharpness,
                                }
                                for m in s.members
                            ],
                        }
                        for s in sets
                    ],
                }
            )
        )
        return
    extra = sum(len(s.members) - 1 for s in sets)
    typer.echo(
        f"{count(len(sets), 'group')} of near-duplicates (cosine ≥ {t:g}) among "
        f"{count(len(idx), 'image')}; {count(extra, 'image')} could go (review them; "
        "explorer deletes nothing)."
    )
    for s in sets:
        big = len(s.members) > 5 and not s.exact
        typer.echo(
            f"group {s.group}"
            + (" (exact copies)" if s.exact else "")
            + (f" ({len(s.members)} images: check it is one picture)" if big else "")
            + f"  keep: {s.reason}"
        )
        for m in s.members:
            action = "keep  " if m.keep else "review"
            note = " exact" if m.exact else ""
            folder, _, name = m.path.rpartition("/")
            day = time.strftime("%Y-%m-%d", time.localtime(m.mtime_ns / 1e9))
            typer.echo(
                f"  {action} {m.width:>5}×{m.height:<5} {_size(m.size):>8}  {day}  "
                f"{m.score:.3f}{note:6}  {display_path(name)}  in {display_path(folder or '.')}/"
            )


def _next(curve: list[tuple[int, float, bool | None]], rank: int) -> float:
    """The score at the next rank of the curve (-1 after the last)."""
    later = [score for r, score, _ in curve if r > rank]
    return later[0] if later else -1.0


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

    _setup_logging(quiet)
    with _progress(quiet or as_json or as_csv) as progress:
        idx, summaries, labels = _run(
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
            _write_or_echo(catalog.rows_csv(rows, ["path", "cluster", "cluster_name"]), None)
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
        _write_or_echo(catalog.rows_csv(rows, columns), None)
    else:
        for c in summaries:
            typer.echo(
                f"cluster {c.cluster:<3} {c.size:>6} {'image ' if c.size == 1 else 'images'}  "
                f"cohesion {c.cohesion:.2f}  {c.name}"
            )
            for i in c.representatives:
                typer.echo(f"    {display_path(paths[i])}")


def _refuse_path_tag(label: str, command: str, usage: str) -> None:
    if os.path.lexists(label) or os.path.splitext(label)[1].lower() in IMAGE_EXTENSIONS:
        # 'explorer tag a.jpg b.jpg' with the tag forgotten would tag a.jpg with "b.jpg"
        raise _fail(
            f"the last argument is the tag, but {label!r} is "
            f"{'a file' if os.path.lexists(label) else 'an image file name'}; give the tag "
            f"last: explorer {command} {usage}",
            2,
        )


def _tag_command(args: list[str], index: Path, cluster: int | None, *, remove: bool) -> None:
    from explorer.jobs import catalog

    if not args:
        raise _fail("give the tag as the last argument", 2)
    *files, label = args
    _refuse_path_tag(label, "untag" if remove else "tag", "FILE... TAG")
    missing = [f for f in files if not os.path.lexists(f)]
    if missing:
        raise _fail(f"no such file: {missing[0]}", 2)
    changed = _run(
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
        raise _fail("--import takes a file and nothing else; --from a file and one tag", 2)
    if import_file is not None:
        done = _run(lambda: catalog.import_tags(index, import_file))
        what = f"{count(done.added, 'new tag')} on {count(done.images, 'image')}"
    else:
        if len(args) != 1 or from_csv is None:
            raise _fail(
                "give one tag after --from FILE, e.g. explorer tag --from selection.csv keep", 2
            )
        label = args[0]
        _refuse_path_tag(label, "tag", "--from selection.csv TAG")
        done = _run(lambda: catalog.tag_selection(index, from_csv, label))
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
        raise _fail("--no-csv needs --json: choose an output format", 2)
    from explorer.jobs import catalog

    _setup_logging(quiet)
    with _progress(True) as progress:
        rows = _run(lambda: catalog.export_rows(index, gps=gps, progress=progress))
    columns = catalog.EXPORT_COLUMNS + (catalog.GPS_COLUMNS if gps else ())
    if as_json:
        _write_or_echo(json.dumps(rows) + "\n", out)
    else:
        _write_or_echo(catalog.rows_csv(rows, columns), out)
