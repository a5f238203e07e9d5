"""Move the images a duplicate plan marks ``review`` into a folder, and put them back.

Nothing is ever deleted. Before the first file moves, a journal listing every
``(from, to)`` pair is written atomically into the destination; each file is
then renamed (on one file system) or copied, fsynced, renamed into place and
only then removed from its old place (across file systems). A kill at any
moment leaves every file at its old or its new place (across file systems,
for one file, possibly at both), and :func:`undo_moves` reads the journal and
puts back every file that is at its new place.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from explorer import faults
from explorer.analysis.keepers import DuplicateSet
from explorer.errors import UsageError
from explorer.fs import atomic_write_bytes

JOURNAL = ".explorer-moves.json"
"""The undo journal, in the destination folder."""


@dataclass(frozen=True)
class MoveResult:
    """What a move or an undo did."""

    moved: int
    journal: Path
    already: int = 0  # undo: files already at their old place
    missing: list[str] | None = None  # undo: files found at neither place


def _target(dest: Path, root: Path, source: Path) -> Path:
    """Where ``source`` goes under ``dest``: its path relative to the indexed root."""
    try:
        rel = source.relative_to(root)
    except ValueError:  # added from outside the root: keep its absolute path under _outside
        rel = Path("_outside") / Path(*source.parts[1:])
    return dest / rel


def move_reviews(sets: Sequence[DuplicateSet], *, root: Path, dest: Path) -> MoveResult:
    """Move every ``review`` member of ``sets`` under ``dest``, at its path under ``root``.

    Args:
        sets: Duplicate groups (their member paths as openable paths).
        root: The indexed folder.
        dest: The folder to move into (created if missing).

    Returns:
        How many files moved and where the journal is.

    Raises:
        UsageError: A target already exists, a source is missing, ``dest`` holds
            an unfinished journal, or ``dest`` lies inside ``root`` (the next
            build would index the moved images again).
    """
    root, dest = Path(os.path.abspath(root)), Path(os.path.abspath(dest))
    if dest == root or root in dest.parents:
        raise UsageError(f"--move-to must be outside the indexed folder {root}: {dest}")
    journal = dest / JOURNAL
    if journal.exists():
        raise UsageError(
            f"{journal} exists: a previous move is recorded there; undo it first "
            f"(explorer duplicates --undo {dest}) or choose another folder"
        )
    plan: list[tuple[Path, Path]] = []
    for s in sets:
        for m in s.members:
            if m.keep:
                continue
            src = Path(os.path.abspath(m.path))
            plan.append((src, _target(dest, root, src)))
    targets = [t for _, t in plan]
    if len(set(targets)) != len(targets):
        raise UsageError("two images would move to the same place; nothing was moved")
    for src, dst in plan:
        if not src.is_file():
            raise UsageError(f"not found: {src} (rebuild the index); nothing was moved")
        if dst.exists() or dst.is_symlink():
            raise UsageError(f"target exists: {dst}; nothing was moved")
    dest.mkdir(parents=True, exist_ok=True)
    entries = [{"from": os.fsdecode(s), "to": os.fsdecode(d)} for s, d in plan]
    body = json.dumps({"version": 1, "moves": entries}, ensure_ascii=False, indent=1)
    atomic_write_bytes(journal, body.encode("utf-8", "surrogateescape"))
    for src, dst in plan:
        _move(src, dst)
        faults.point("move")
    return MoveResult(moved=len(plan), journal=journal)


def undo_moves(dest: Path) -> MoveResult:
    """Put back every file the journal in ``dest`` records, then retire the journal.

    Raises:
        UsageError: No journal in ``dest``, or a file's old place is taken by
            another file (nothing of that file is overwritten).
    """
    journal = Path(dest) / JOURNAL
    try:
        data = json.loads(journal.read_bytes().decode("utf-8", "surrogateescape"))
        moves = [(Path(e["from"]), Path(e["to"])) for e in data["moves"]]
    except FileNotFoundError:
        raise UsageError(f"no move journal in {dest} ({JOURNAL} is missing)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"unreadable move journal {journal}: {exc}") from None
    moved = already = 0
    missing: list[str] = []
    for src, dst in moves:
        at_new, at_old = dst.exists(), src.exists()
        if at_new and at_old:
            if _same_bytes(src, dst):  # a cross-device move killed before its unlink
                dst.unlink()
                already += 1
                continue
            raise UsageError(f"{src} exists and is not the moved file {dst}; left both in place")
        if at_new:
            _move(dst, src)
            moved += 1
        elif at_old:
            already += 1
        else:
            missing.append(os.fsdecode(src))
    if not missing:
        os.replace(journal, journal.with_name(JOURNAL + ".undone"))
    return MoveResult(moved=moved, journal=journal, already=already, missing=missing)


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (parents created), copying across file systems; never overwrite."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        raise UsageError(f"target exists: {dst}")
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = dst.with_name(f".{dst.name}.moving")
    shutil.copy2(src, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dst)
    src.unlink()


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True
