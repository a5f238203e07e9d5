"""``explorer info``: what an index holds, and whether its files are intact."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from explorer import api
from explorer.api import DEFAULT_INDEX
from explorer.cli._app import Command, IndexOpt, JsonOpt, app, relative, run, shown
from explorer.text import display_path

if TYPE_CHECKING:
    from explorer.inputs.capture import CaptureSummary


@app.command(cls=Command)
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
    from explorer.inputs.capture import summarise

    idx = run(lambda: api.open_index(index))
    problems = run(idx.verify) if verify else []
    if problems:
        # a damaged index cannot be described further: list what is wrong, and how to fix it
        if as_json:
            typer.echo(json.dumps({"index": str(index), "problems": problems}))
        else:
            typer.echo(f"index:     {shown(index)}\nverify:    PROBLEMS")
            for p in problems:
                typer.echo(f"  {p}")
            if len(problems) == 1 and not idx.sealed:  # only the seal is missing
                typer.echo(f"Seal it with 'explorer build FOLDER --index {shown(index)}'.")
            else:
                typer.echo(f"Rebuild with: {display_path(_rebuild_command(index))}")
        raise typer.Exit(1)
    proj = run(idx.projection)
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
        "capture": asdict(summarise(idx.records)),
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
            f"index:     {shown(index)} (updated {data['updated']})",
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
        lines += _capture_lines(summarise(idx.records))
        analysis = data["analysis"]
        if analysis:
            lines.append(f"clusters:  {analysis.get('k')} ({analysis.get('method')})")
        typer.echo("\n".join(lines))
        if skipped:
            for s in idx.skipped:
                typer.echo(f"  {s.reason:<16} {display_path(s.path)}  {s.detail}")
        if verify:
            typer.echo("verify:    ok")


def _capture_lines(c: CaptureSummary) -> list[str]:
    """``explorer info``'s lines on capture dates, cameras and GPS."""
    if c.first is None:
        taken = "unknown"
    else:
        taken = f"{c.first[:10]} to {c.last[:10] if c.last else ''} ({c.from_exif} from EXIF"
        taken += f", {c.from_mtime} from file dates)"
    if c.unknown:
        taken += f"; {c.unknown} not read yet (the next build reads them)"
    cams = ", ".join(f"{display_path(name)} ({n})" for name, n in c.cameras[:3])
    more = f", {len(c.cameras) - 3} more" if len(c.cameras) > 3 else ""
    return [
        f"taken:     {taken}",
        f"cameras:   {len(c.cameras)}" + (f": {cams}{more}" if c.cameras else ""),
        f"GPS:       {c.with_gps} images carry a location (not stored; export --gps reads it)",
    ]


def _rebuild_command(index: Path) -> str:
    """The command that rebuilds this index as it was (backbone and weights named)."""
    from explorer.features.base import BackboneInfo
    from explorer.store.advice import rebuild_command
    from explorer.store.folder import read_bytes

    try:
        manifest = json.loads(read_bytes(index / "manifest.json"))
        root, backbone = str(manifest["root"]), BackboneInfo.from_json(manifest["backbone"])
    except (OSError, ValueError, KeyError, TypeError):
        return rebuild_command(relative(index))
    return rebuild_command(relative(index), root=relative(root), backbone=backbone)
