"""The progress hook the core reports through and the CLI draws.

``progress(label, total)`` opens one bar and returns a function to call with
the number of items just finished. The core never draws anything itself.
"""

from __future__ import annotations

from collections.abc import Callable

Advance = Callable[[int], None]
Progress = Callable[[str, int], Advance]


def no_progress(label: str, total: int) -> Advance:
    """A progress hook that draws nothing."""
    return lambda n: None
