"""explorer: content-based image retrieval and visual clustering.

The public API is :func:`build`, :func:`add`, :func:`similar`, :func:`report`,
:func:`open_index` and :class:`Index` (defined in :mod:`explorer.api` and
:mod:`explorer.store.index`). Importing this package is cheap: those names
load on first use, and TensorFlow, umap and bokeh only inside the functions
that need them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.api import add, build, open_index, report, similar
    from explorer.store.index import Index

from explorer.version import __version__

# public name -> the module that defines it, imported on first access
_LAZY = {
    "build": "explorer.api",
    "add": "explorer.api",
    "similar": "explorer.api",
    "open_index": "explorer.api",
    "report": "explorer.api",
    "Index": "explorer.store.index",
}

__all__ = ["Index", "__version__", "add", "build", "open_index", "report", "similar"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'explorer' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
