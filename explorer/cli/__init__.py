"""The command line: a thin Typer layer over :mod:`explorer.api` and the core.

:mod:`explorer.cli._app` holds the app, the shared options, the error mapping
and the progress bars; each command module registers its commands on the app
when imported here.
"""

from explorer.cli import build, catalog, duplicates, info, report, similar  # noqa: F401
from explorer.cli._app import app

__all__ = ["app"]
