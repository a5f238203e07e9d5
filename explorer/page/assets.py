"""The report page's own files, read from the installed package.

``templates/*.j2`` (Jinja), ``static/report.css`` and the script's files
(:data:`SCRIPT_FILES`) live beside this module and are read with
:mod:`importlib.resources`, so they are found from a wheel, an editable install
or a source checkout alike.

The templates are rendered by one autoescaping Jinja environment (undefined
variables are errors): every value a template prints is escaped unless it is
:class:`markupsafe.Markup`, and only three things are: the stylesheet, the
script (files of this package) and the page data as JSON escaped for a
``<script>`` block (:func:`explorer.page.payload.script_json`). Jinja is
imported inside the functions that need it.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

PACKAGE = "explorer.page"
"""The package whose ``templates/`` and ``static/`` folders hold the page's files."""

PAGE_TEMPLATE = "page.html.j2"
"""The page: extends Bokeh's ``file.html`` (``{{ embed(roots.map) }}`` is the map)."""

SCRIPT_FILES = (
    "core.js",
    "map.js",
    "panel.js",
    "select.js",
    "pagetags.js",
    "gallery.js",
    "main.js",
)
"""The client-side script's files in ``static/``, in the order the page runs them.

Each adds to the one global ``window.ExplorerApp``; ``core.js`` (the page data,
the state and the helpers) must come first, ``main.js`` (``init``) comes last.
"""

STATIC_FILES = ("report.css", *SCRIPT_FILES)
"""Every file in ``static/``: the stylesheet and the script's files."""


def read_static(name: str) -> str:
    """The text of one file in ``static/``.

    Args:
        name: A file name such as ``"core.js"``.

    Returns:
        Its text (UTF-8).

    Raises:
        FileNotFoundError: If the package holds no such file (a broken install).
    """
    return (files(PACKAGE) / "static" / name).read_text(encoding="utf-8")


def read_template(name: str) -> str:
    """The source of one Jinja template in ``templates/``.

    Args:
        name: A file name such as ``"page.html.j2"``.

    Returns:
        Its text (UTF-8).

    Raises:
        FileNotFoundError: If the package holds no such file.
    """
    return (files(PACKAGE) / "templates" / name).read_text(encoding="utf-8")


@functools.cache
def stylesheet() -> Markup:
    """The page's stylesheet, to be inlined in its ``<style>`` element."""
    return _inline(read_static("report.css"), "style")


@functools.cache
def script() -> Markup:
    """The page's script, to be inlined in its ``<script>`` element.

    The files of :data:`SCRIPT_FILES`, each checked on its own, joined in that order.
    """
    from markupsafe import Markup

    return Markup("\n".join(_inline(read_static(name), "script") for name in SCRIPT_FILES))


@functools.cache
def environment() -> jinja2.Environment:
    """The one Jinja environment of the report: autoescaping, strict about undefined names.

    Whitespace is handled as in Bokeh's own environment (``trim_blocks`` and
    ``lstrip_blocks``), since the page template extends Bokeh's ``file.html``.
    """
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _load_template(name: str) -> str | None:
    try:
        return read_template(name)
    except (FileNotFoundError, IsADirectoryError):
        return None  # Jinja raises TemplateNotFound


def _inline(text: str, tag: str) -> Markup:
    """Mark a file of this package as safe inside ``<tag>``, after checking it cannot close it."""
    from markupsafe import Markup

    if f"</{tag}" in text.lower():
        raise ValueError(f"a static file of the report holds '</{tag}': it would end the element")
    return Markup(text)
