"""Deterministic fault injection, for the reliability tests.

Set ``EXPLORER_FAULT=POINT[:N]`` and the process kills itself with SIGKILL the
N-th time (default first) it passes ``POINT``. The points:

- ``chunk``: right after a checkpoint chunk is written;
- ``commit``: after a new generation's data files are written, before the
  manifest that makes it current;
- ``committed``: after the manifest, before old files are cleaned up.

Unset (always, outside tests) this costs one dictionary lookup per point.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passed: Counter[str] = Counter()


def point(name: str) -> None:
    """Die here if ``EXPLORER_FAULT`` names this point (and its count is reached)."""
    spec = os.environ.get("EXPLORER_FAULT")
    if not spec:
        return
    wanted, _, count = spec.partition(":")
    if wanted != name:
        return
    _passed[name] += 1
    if _passed[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
