"""What every command shares: the Typer app, option types, the error mapping, logging.

The command modules (:mod:`explorer.cli.build`, :mod:`explorer.cli.report`,
...) register themselves on :data:`app`; this module imports none of them.
The console on stderr (error lines, progress bars) is :mod:`explorer.cli._console`.
Only domain errors (:class:`~explorer.errors.ExplorerError`), Ctrl-C and
``OSError`` become one line and an exit code; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from explorer.cli._console import exit_now, say_error
from explorer.errors import ExplorerError
from explorer.text import display_path

T = TypeVar("T")
STARTED = time.perf_counter()  # the summary's total counts from here, imports included


class _App(typer.Typer):
    """The Typer app, quiet when its reader goes away (``explorer similar ... | head -1``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit:
            # click met EPIPE on stdout: it wrapped stdout and exits 1; a closed pipe is no error
            if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
                _quiet_stdout()
                raise SystemExit(0) from None
            raise
        except BrokenPipeError:
            _quiet_stdout()
            raise SystemExit(0) from None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.__stdout__.fileno() if sys.__stdout__ else 1)


# the order ``explorer --help`` lists the commands in: as a user meets them (others last)
COMMAND_ORDER = (
    "build",
    "report",
    "add",
    "similar",
    "info",
    "duplicates",
    "clusters",
    "tag",
    "untag",
    "export",
)


class _Group(typer.core.TyperGroup):
    """The command group, listing its commands in :data:`COMMAND_ORDER`, not import order."""

    def list_commands(self, ctx: Any) -> list[str]:
        """The names of the commands, ``build`` first."""
        names: list[str] = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))


app = _App(
    name="explorer",
    cls=_Group,
    help=(
        "Find similar images and see the structure of a photo collection.\n\n"
        "Typical use: 'explorer build ./photos' indexes a folder (VGG16 fc2 features, "
        "PCA to 300 components); 'explorer similar img.jpg' lists the most similar "
        "indexed images; 'explorer add new.jpg' adds images without rebuilding; "
        "'explorer info' describes the index. The index lives in ./.explorer unless "
        "--index or EXPLORER_INDEX says otherwise."
    ),
    pretty_exceptions_show_locals=False,
    add_completion=False,
    # help texts are plain text: '[lite]' and '[default: ...]' must not be read as markup
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Command(typer.core.TyperCommand):
    """A command whose usage line reads ``explorer build [OPTIONS] FOLDER`` (not ``{folder}``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """Typer's pieces, with required arguments written the usual way, in capitals."""
        import re

        def plain(m: re.Match[str]) -> str:
            name, more = m.group(1), m.group(2) or ""
            # a metavar of our own ("[FILE]... TAG") already says how many
            return name.upper() + more if re.fullmatch(r"[\w-]+", name) else name

        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [re.sub(r"\{([^{}]+)\}(\.\.\.)?", plain, p) for p in pieces]


@app.callback(invoke_without_command=True)
def _explorer(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True)
    ] = False,
) -> None:
    if version:
        from explorer.version import __version__

        typer.echo(f"explorer {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:  # bare 'explorer': the help, and success
        typer.echo(ctx.get_help())
        raise typer.Exit()


IndexOpt = Annotated[
    Path,
    typer.Option(
        "--index",
        envvar="EXPLORER_INDEX",
        help="Index folder.",
        show_default=True,
    ),
]
WeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--weights",
        envvar="EXPLORER_WEIGHTS",
        help=(
            "'imagenet' (Keras downloads and caches them), a local weights file "
            "(vgg16_weights_tf_dim_ordering_tf_kernels.h5) for machines without a network, "
            "or 'random' (testing only). Default: what the index was built with, else imagenet."
        ),
        show_default=False,
    ),
]
ClustersOpt = Annotated[
    str | None,
    typer.Option(
        "--clusters",
        help="k-means clusters: a number, or 'auto' (best silhouette for k in 2..min(20, √n)) "
        "[default: what the index's clusters were last made with, else auto].",
        show_default=False,
    ),
]
DupOpt = Annotated[
    float | None,
    typer.Option(
        "--dup-threshold",
        help="Cosine similarity in (0, 1] (raw backbone features) from which two images may "
        "be near-duplicates [default: the backbone's calibrated one, 0.78 for Lite0; see "
        "explorer duplicates --histogram].",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Report file [default: reports/<folder>.html beside the index, "
        "<folder>-<index>.html for an index not named .explorer; inside the index when "
        "that would be in the indexed folder].",
        show_default=False,
    ),
]
CheckpointOpt = Annotated[
    int, typer.Option(help="Images extracted between two checkpoints (resume points).", min=1)
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        help="Images per model call [default: the backbone's own].", min=1, show_default=False
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="CSV on stdout.")]
INTERRUPTED = "interrupted; nothing was changed"


def relative(path: Path | str) -> str:
    """A path as a person can open it from the current directory (lossless, for JSON)."""
    text = os.fspath(path)
    if os.path.isabs(text):
        rel = os.path.relpath(text)
        return text if rel.startswith("..") else rel
    return text


def shown(path: Path | str) -> str:
    """:func:`relative`, made safe for a terminal (:func:`~explorer.text.display_path`)."""
    return display_path(relative(path))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Say ``message`` as an error; the caller raises the returned exit."""
    say_error(message)
    return typer.Exit(code)


def run(call: Callable[[], T], *, interrupted: str = INTERRUPTED) -> T:
    """Run a core call, turning domain errors into one line and an exit code.

    Anything that is not an :class:`~explorer.errors.ExplorerError`, an
    ``OSError`` or Ctrl-C is a bug and goes on with its traceback (exit 1).

    Args:
        call: The core call.
        interrupted: What to say after Ctrl-C, unless the core says it (an
            :class:`~explorer.errors.Interrupted` names what was saved).
    """
    from explorer.errors import Interrupted
    from explorer.features.extract import DecodeHangError

    try:
        return call()
    except DecodeHangError as exc:
        # a decoder thread is stuck and cannot be stopped: leave without joining it
        exit_now(str(exc), exc.exit_code)
    except ExplorerError as exc:
        raise fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt as exc:
        message = exc.message if isinstance(exc, Interrupted) else interrupted
        if any(t.name == "explorer-embed" and t.is_alive() for t in threading.enumerate()):
            exit_now(message, 130)  # a model call is still running: do not wait for it
        raise fail(message, 130) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            # the index's own commits say whether a previous index is intact (DiskFullError)
            where = f" {exc.filename}" if exc.filename else ""
            raise fail(f"disk full while writing{where}; free some space and try again") from None
        raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None


def setup_logging(quiet: bool) -> None:
    """Log the core's notes to stderr (warnings only with ``--quiet``), quieting noisy libraries."""
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("numba", "absl", "tensorflow", "h5py", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Pillow warns between MAX_IMAGE_PIXELS and twice that: such images are indexed
    # (docs/inputs.md), above it they are skipped as too_large; neither is news to print
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")


def applicable_weights(
    ctx: typer.Context, weights: str | None, index: Path, backbone: str | None
) -> str | None:
    """``--weights``, or ``None`` for an ``EXPLORER_WEIGHTS`` that cannot apply.

    A weights file set once in the environment is meant for VGG16: it must
    not make every command on a backbone that brings its own weights fail.
    Given on the command line, such weights are refused by the core.
    """
    source = ctx.get_parameter_source("weights")
    if weights is None or source is None or source.name != "ENVIRONMENT":
        return weights
    from explorer.features.registry import BACKBONES

    name = backbone
    if name is None:
        try:
            name = str(json.loads((index / "manifest.json").read_bytes())["backbone"]["name"])
        except (OSError, ValueError, KeyError, TypeError):
            name = "vgg16"  # a new index: the default backbone
    spec = BACKBONES.get(name)
    return None if spec is not None and not spec.needs_weights else weights


def write_or_echo(text: str, out: Path | None) -> None:
    """``text`` to stdout (undecodable file-name bytes replaced) or, exactly, to ``out``."""
    if out is None:
        sys.stdout.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        return
    from explorer.store.folder import write_output_bytes

    run(lambda: write_output_bytes(out, text.encode("utf-8", "surrogateescape")))
    typer.echo(f"wrote {display_path(str(out))}", err=True)
