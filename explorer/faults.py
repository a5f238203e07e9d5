"""Deterministic fault injection, for the reliability tests.

Set ``EXPLORER_FAULT=POINT[:N]`` and the process kills itself with SIGKILL the
N-th time (default first) it passes ``POINT``. The points:

- ``write``: inside every atomic file write, after the data reached the temp
  file and before it is renamed into place (checkpoint chunks, index files,
  the manifest);
- ``chunk``: right after a checkpoint chunk is written;
- ``commit``: after a new generation's data files are written, before the
  manifest that makes it current;
- ``committed``: after the manifest, before old files are cleaned up.

and ``decode-crash:NAME`` / ``decode-hang:NAME`` make decoding the file named
NAME crash the process or hang (see :func:`decode`). With
``EXPLORER_FAULT_ONCE=FILE`` a decode fault fires only while FILE does not
exist, and creates it first: a worker killed once, not a poison file.

Unset (always, outside tests) this costs one dictionary lookup per point.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

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


def decode(path: Path) -> None:
    """Crash or hang while "decoding" ``path`` if ``EXPLORER_FAULT`` says so.

    ``decode-crash:NAME`` kills the process with SIGKILL, ``decode-hang:NAME``
    sleeps for an hour, when the file's name is NAME.
    """
    spec = os.environ.get("EXPLORER_FAULT", "")
    kind, _, name = spec.partition(":")
    if kind not in ("decode-crash", "decode-hang") or path.name != name:
        return
    once = os.environ.get("EXPLORER_FAULT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return
    if kind == "decode-crash":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(3600)
