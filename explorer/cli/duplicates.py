"""``explorer duplicates``: near-duplicate groups with a keeper, the threshold's evidence, moves.

Options and output here; the work in :mod:`explorer.jobs.catalog` and :mod:`explorer.jobs.moves`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from explorer.api import DEFAULT_INDEX
from explorer.cli._app import (
    Command,
    CsvOpt,
    IndexOpt,
    JsonOpt,
    QuietOpt,
    app,
    run,
    setup_logging,
    write_or_echo,
)
from explorer.cli._console import progress_bars
from explorer.text import count, display_path

if TYPE_CHECKING:
    from explorer.analysis.keepers import DuplicateSet
    from explorer.jobs.catalog import Calibration


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

    setup_logging(quiet)
    if undo is not None:
        _undo(undo)
        return
    if histogram:
        with progress_bars(quiet or as_json) as progress:
            cal = run(lambda: catalog.calibrate(index, threshold=threshold, progress=progress))
        _show_calibration(cal, as_json=as_json)
        return
    with progress_bars(quiet or as_json or as_csv) as progress:
        idx, sets, t = run(
            lambda: catalog.duplicates(index, threshold=threshold, progress=progress)
        )
    if out is not None:
        write_or_echo(plan_csv(sets), out)
    if move_to is not None:
        _move(sets, root=Path(idx.root), dest=move_to)
    elif as_csv:
        write_or_echo(plan_csv(sets), None)
    elif as_json:
        typer.echo(json.dumps({"threshold": t, "groups": [_group_json(s) for s in sets]}))
    else:
        _print_groups(sets, threshold=t, images=len(idx))


def _undo(folder: Path) -> None:
    """``--undo DIR``: put back what a ``--move-to DIR`` moved; exit 1 if any file is lost."""
    from explorer.jobs.moves import undo_moves

    done = run(lambda: undo_moves(folder))
    typer.echo(
        f"put back {done.moved} files ({done.already} were already in place)"
        + (f"; not found at either place: {len(done.missing)}" if done.missing else "")
    )
    for path in done.missing or []:
        typer.echo(f"  missing {display_path(path)}", err=True)
    if done.missing:
        raise typer.Exit(1)


def _move(sets: list[DuplicateSet], *, root: Path, dest: Path) -> None:
    """``--move-to DIR``: move every 'review' image there, and say how to undo it."""
    from explorer.jobs.moves import move_reviews

    moved = run(lambda: move_reviews(sets, root=root, dest=dest))
    typer.echo(
        f"moved {moved.moved} images into {dest} (journal {moved.journal.name}); "
        f"undo with: explorer duplicates --undo {dest}"
    )


def _show_calibration(cal: Calibration, *, as_json: bool) -> None:
    """``--histogram``: pair counts per threshold, the rank curve, and pairs near the cut."""
    if as_json:
        keys = ("threshold", "counts", "above", "below", "curve")
        typer.echo(json.dumps({key: getattr(cal, key) for key in keys}))
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
    for side, pairs in (("above", cal.above), ("below", cal.below)):
        typer.echo(f"pairs just {side} {cal.threshold:.2f}:")
        for a, b, score in pairs:
            typer.echo(f"  {score:.3f}  {display_path(a)}  ~  {display_path(b)}")


def _group_json(s: DuplicateSet) -> dict[str, object]:
    """One group as ``--json`` writes it."""
    members = [
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
    ]
    return {"group": s.group, "exact": s.exact, "keep_reason": s.reason, "members": members}


def _print_groups(sets: list[DuplicateSet], *, threshold: float, images: int) -> None:
    """The groups as a table: each member's action, size, date, score, name and folder."""
    extra = sum(len(s.members) - 1 for s in sets)
    exact = sum(s.exact for s in sets)
    typer.echo(
        f"{count(len(sets), 'group')} of duplicates among {count(images, 'image')} "
        f"({exact} of exact copies only; near-duplicates at cosine ≥ {threshold:g}); "
        f"{count(extra, 'image')} could go (review them; explorer deletes nothing)."
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


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
