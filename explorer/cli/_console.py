"""The rich console on stderr: ``error:`` lines and the progress bars.

Messages said while bars are drawn are held back and printed once the bars
stop, on their own line; :func:`exit_now` leaves at once, bars cleaned up.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from explorer.progress import Progress, no_progress
from explorer.text import display_path

IMAGE_BARS = ("extracting", "embedding queries")  # bars whose items are images run by a model


def _stderr() -> Any:
    from rich.console import Console

    # soft_wrap: a message is never hard-wrapped, so a URL in it stays whole
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _print_error(message: str) -> None:
    """The one way an error reaches the console: one line, no escapes, no rich markup."""
    from rich.markup import escape

    _stderr().print(f"[bold red]error:[/] {escape(display_path(message))}")


_LIVE: list[list[str]] = []  # messages held back while progress bars are drawn
_BARS: list[Any] = []  # the rich Progress displays now live


def say_error(message: str) -> None:
    """One ``error:`` line on stderr; held back until live progress bars are gone."""
    if _LIVE:
        _LIVE[-1].append(message)
        return
    _print_error(message)


def exit_now(message: str, code: int) -> NoReturn:
    """Say ``message`` and leave at once, without joining threads that cannot be stopped."""
    for bars in _BARS:
        _hide_unfinished(bars)
        if bars.live.is_started:
            bars.stop()  # restores the cursor
    for held in _LIVE:
        for line in held:
            _print_error(line)
    _print_error(message)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def progress_bars(quiet: bool) -> Iterator[Progress]:
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
            say_error(message)


@contextlib.contextmanager
def _bars(quiet: bool) -> Iterator[Progress]:
    if quiet:
        yield no_progress
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bars

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
    bars = Bars(*columns, console=_stderr(), transient=False)
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


def _bar_hook(bars: Any) -> Progress:
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
