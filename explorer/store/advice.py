"""Commands explorer suggests in its messages, spelled out so they work as written."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from explorer.features.base import IMAGENET_WEIGHTS, BackboneInfo

DEFAULT_BACKBONE = "vgg16"


def rebuild_command(
    index_path: Path | str, *, root: str | None = None, backbone: BackboneInfo | None = None
) -> str:
    """``explorer build ROOT --fresh [--backbone B] [--weights W] --index PATH`` for an index.

    The backbone and weights the index was made with are named whenever they
    are not the defaults, so the command rebuilds the same kind of index (a
    Lite0 index is not rebuilt as VGG16, which would need a download).

    Args:
        index_path: The index to rebuild.
        root: Its photo folder, when known (else the placeholder ``FOLDER``).
        backbone: What its features were made with, when known.
    """
    parts = ["explorer", "build", shlex.quote(root) if root else "FOLDER", "--fresh"]
    if backbone is not None:
        if backbone.name != DEFAULT_BACKBONE:
            parts += ["--backbone", shlex.quote(backbone.name)]
        elif backbone.weights != IMAGENET_WEIGHTS:
            parts += ["--weights", shlex.quote(backbone.weights)]
    parts += ["--index", shlex.quote(os.fspath(index_path))]
    return " ".join(parts)
