"""explorer: content-based image retrieval and visual clustering.

The public API is :func:`build`, :func:`add`, :func:`similar`, :func:`report`,
:func:`open_index` and :class:`Index` (defined in :mod:`explorer.api` and
:mod:`explorer.store.index`). Importing this package is cheap: those names
load on first use, and TensorFlow, umap and bokeh only inside the functions
that need them.
"""

from __future__ import annotations

import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.api import add, build, open_index, similar
    from explorer.store.index import Index

from explorer.version import __version__

# public name -> the module that defines it, imported on first access
_LAZY = {
    "build": "explorer.api",
    "add": "explorer.api",
    "similar": "explorer.api",
    "open_index": "explorer.api",
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


class _CallableReport(types.ModuleType):
    """The ``explorer.report`` subpackage, which is also the function :func:`explorer.api.report`.

    Python sets ``explorer.report`` to the subpackage whenever a module of it
    is imported, so a function of that name would not stay; the subpackage is
    made callable instead, and ``import explorer.report.render`` still works.
    """

    def __call__(self, **kwargs: Any) -> Any:
        """Write the HTML report: :func:`explorer.api.report` (keyword arguments only)."""
        from explorer.api import report as write

        return write(**kwargs)


from explorer import report as _report_package  # noqa: E402  (its __init__ holds nothing heavy)

_report_package.__class__ = _CallableReport
