"""Poison files: images whose decoding crashes the process or never ends.

Pillow's ordinary errors are caught per file (:mod:`explorer.inputs.decode`). This
module handles the rest: a decoder that kills the whole process, or hangs.

- While extracting, each decode is journalled (``checkpoints/decoding.log``):
  a line when it starts and one when it ends. A crash leaves the file's start
  without an end.
- A decode that takes longer than ``EXPLORER_DECODE_TIMEOUT`` seconds (default
  120) stops the run (:class:`~explorer.features.extract.DecodeHangError`),
  checkpoints kept.
- The next run re-tries every such suspect alone, in a subprocess with that
  timeout. A suspect that crashes it or times out again is quarantined
  (``quarantine.json`` in the index folder) and skipped as ``decoder_crash`` or
  ``decode_timeout`` until the file changes; an innocent one is indexed.

Run as ``python -m explorer.store.quarantine FILE`` it decodes one file: the probe.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
from pathlib import Path

from explorer.fs import atomic_write_bytes
from explorer.store.checkpoints import JOURNAL
from explorer.store.folder import CHECKPOINTS, open_append, read_bytes, subfolder
from explorer.store.manifest import load_json

QUARANTINE = "quarantine.json"
DECODER_CRASH = "decoder_crash"
DECODE_TIMEOUT = "decode_timeout"


def decode_timeout() -> float:
    """Seconds one decode may take (``EXPLORER_DECODE_TIMEOUT``, default 120)."""
    try:
        return max(0.1, float(os.environ.get("EXPLORER_DECODE_TIMEOUT", "120")))
    except ValueError:
        return 120.0


class Journal:
    """Append-only record of decodes started and finished (survives a process crash)."""

    def __init__(self, index_path: Path) -> None:
        folder = subfolder(index_path, CHECKPOINTS)
        assert folder is not None
        self._fd = open_append(folder / JOURNAL)

    def start(self, path: Path) -> None:
        """Note that decoding ``path`` begins."""
        os.write(self._fd, b"+" + os.fsencode(path).hex().encode() + b"\n")

    def done(self, path: Path) -> None:
        """Note that decoding ``path`` ended (well or with a caught error)."""
        os.write(self._fd, b"-" + os.fsencode(path).hex().encode() + b"\n")

    def close(self) -> None:
        """Close the journal file."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


def suspects(index_path: Path) -> list[Path]:
    """Files whose decode started in an earlier run and never ended."""
    folder = subfolder(index_path, CHECKPOINTS, create=False)
    if folder is None:
        return []
    try:
        text = read_bytes(folder / JOURNAL)
    except FileNotFoundError:
        return []
    open_: dict[str, int] = {}
    for line in text.splitlines():
        if len(line) < 2:
            continue
        key = line[1:].decode("ascii", "replace")
        open_[key] = open_.get(key, 0) + (1 if line[:1] == b"+" else -1)
    out = []
    for key, count in open_.items():
        if count > 0:
            with contextlib.suppress(ValueError):
                out.append(Path(os.fsdecode(bytes.fromhex(key))))
    return out


STARTUP_TIMEOUT = 300.0  # seconds a probe's interpreter may take to start, on a loaded machine


def probe(path: Path, *, timeout: float | None = None) -> str | None:
    """Decode one file in a subprocess: ``None`` if it behaves, else the reason to skip it.

    The timeout counts from the moment the child starts decoding (it says so
    on stdout), not from its start-up: a slow interpreter start on a loaded
    machine must not make an innocent file "hang".
    """
    limit = decode_timeout() if timeout is None else timeout
    with subprocess.Popen(
        [sys.executable, "-m", "explorer.store.quarantine", os.fsdecode(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT)
        if ready:
            proc.stdout.readline()  # "decoding", or nothing if the child died first
        try:
            code = proc.wait(timeout=limit if ready else 0.1)
        except subprocess.TimeoutExpired:
            proc.kill()
            return DECODE_TIMEOUT
    return None if code == 0 else DECODER_CRASH


def load(index_path: Path) -> dict[str, dict[str, object]]:
    """Quarantined files: path -> ``{"size", "mtime_ns", "reason"}``."""
    try:
        raw = read_bytes(index_path / QUARANTINE)
    except FileNotFoundError:
        return {}
    try:
        data = load_json(raw, max_depth=3)
        return {str(k): dict(v) for k, v in data["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}  # a damaged quarantine list only costs re-probing


def save(index_path: Path, entries: dict[str, dict[str, object]]) -> None:
    """Write the quarantine list atomically."""
    payload = {"version": 1, "files": dict(sorted(entries.items()))}
    atomic_write_bytes(index_path / QUARANTINE, json.dumps(payload, indent=1).encode())


def _main() -> int:
    from explorer import faults
    from explorer.inputs.decode import load_image

    path = Path(sys.argv[1])
    sys.stdout.write("decoding\n")
    sys.stdout.flush()
    faults.decode(path)
    load_image(path)  # a caught error is fine: only crashes and hangs matter here
    return 0


if __name__ == "__main__":
    sys.exit(_main())
