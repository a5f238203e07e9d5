"""The command line: a thin Typer layer over the core."""

from explorer.cli.main import app

__all__ = ["app"]
