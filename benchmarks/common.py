"""What the benchmark scripts share.

Progress on stderr, a description of the machine, timed steps that note how
busy other processes kept the CPUs (and can wait for them to go quiet), and
``explorer`` run as a command in a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()


def say(message: str) -> None:
    """Progress for the person watching, on stderr."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def machine_info(libraries: Sequence[str]) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, the given libraries' versions, load and date."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        **{name: version(name) for name in libraries},
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


# ---------------------------------------------------------------- contention


CONTENDED_CORES = 0.25  # other processes busier than this spoil a timing


def busy_cpu_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and the children it waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Phase:
    """Wall time of one measured step and how busy other processes kept the CPUs."""

    seconds: float = 0.0
    others_cores: float = 0.0  # mean cores used by other processes meanwhile
    load_before: float = 0.0  # 1-minute load average when the step started
    waited: float = 0.0  # seconds spent waiting for the machine to go quiet first


def others_cores(seconds: float) -> float:
    """Mean cores other processes keep busy over the next ``seconds``."""
    busy, own, start = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    others = (busy_cpu_seconds() - busy) - (own_cpu_seconds() - own)
    return max(0.0, others / (time.perf_counter() - start))


class Meter:
    """Times named steps; optionally waits for the other processes to go quiet first.

    ``quiet_wait`` caps the wait before each step, ``quiet_wait_total`` the
    waits of the whole run (``None``: no overall cap); once it is spent, steps
    start at once and their ``others_cores`` says how contended they were.
    """

    def __init__(self, *, quiet_wait: float = 0.0, quiet_wait_total: float | None = None) -> None:
        self.phases: dict[str, Phase] = {}
        self.quiet_wait = quiet_wait
        self.quiet_wait_total = quiet_wait_total
        self.waited_total = 0.0

    def wait_for_quiet(self) -> float:
        """Wait until others use < CONTENDED_CORES, within both caps; return the wait."""
        limit = self.quiet_wait
        if self.quiet_wait_total is not None:
            limit = min(limit, max(0.0, self.quiet_wait_total - self.waited_total))
        start = time.perf_counter()
        while time.perf_counter() - start < limit:
            if others_cores(2.0) < CONTENDED_CORES:
                break
        waited = time.perf_counter() - start
        self.waited_total += waited
        return waited

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[Phase]:
        """Time a step and note the CPU use of everything else on the machine."""
        waited = self.wait_for_quiet() if self.quiet_wait > 0 else 0.0
        phase = Phase(load_before=round(os.getloadavg()[0], 2), waited=round(waited, 1))
        self.phases[name] = phase
        busy, own, start = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
        try:
            yield phase
        finally:
            phase.seconds = time.perf_counter() - start
            others = (busy_cpu_seconds() - busy) - (own_cpu_seconds() - own)
            phase.others_cores = round(max(0.0, others / phase.seconds), 2)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Every step: seconds, others' cores, load average at its start, seconds waited."""
        return {
            name: {
                "seconds": round(p.seconds, 3),
                "others_cores": p.others_cores,
                "load1": p.load_before,
                "waited_s": p.waited,
            }
            for name, p in self.phases.items()
        }

    def contended(self) -> list[str]:
        """Steps during which other processes used more than CONTENDED_CORES."""
        return [name for name, p in self.phases.items() if p.others_cores > CONTENDED_CORES]


@contextlib.contextmanager
def patched(module: Any, name: str, value: Any) -> Iterator[None]:
    """Temporarily replace ``module.name`` (to hand the product a model already loaded)."""
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


# ---------------------------------------------------------------- the command line


# Runs the CLI as ``python -m explorer`` would, then says whether TensorFlow got imported.
_CLI = (
    "import runpy, sys\n"
    "sys.argv = ['explorer', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('explorer', run_name='__main__', alter_sys=True)\n"
    "finally:\n"
    "    print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)\n"
)


def run_cli_lines(args: list[str], *, cwd: Path) -> tuple[list[dict[str, Any]], bool]:
    """Run ``explorer ARGS --json --quiet`` in a fresh interpreter.

    Returns:
        Every JSON line it printed, and whether it imported TensorFlow.
    """
    cmd = [sys.executable, "-c", _CLI, *args, "--json", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
    if proc.returncode != 0:
        raise SystemExit(f"explorer {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return lines, "tensorflow imported: True" in proc.stderr


def run_cli(args: list[str], *, cwd: Path) -> tuple[dict[str, Any], bool]:
    """Run ``explorer ARGS --json --quiet`` in a fresh interpreter: its summary, TF imported."""
    lines, tf_imported = run_cli_lines(args, cwd=cwd)
    if not lines:
        raise SystemExit(f"explorer {' '.join(args)} printed no JSON")
    return lines[-1], tf_imported


def source_revision(package_file: str) -> dict[str, Any]:
    """The git commit of the checkout a package was imported from, and its changed files.

    Args:
        package_file: The package's ``__file__``.

    Returns:
        ``commit`` (``None`` outside a git checkout) and ``modified``: paths
        ``git status`` lists as changed or new, so a figure can be tied to the
        code that produced it.
    """
    repo = Path(package_file).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
            )
        except OSError:
            return None
        return proc.stdout if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=all") or ""
    return {
        "commit": commit.strip() if commit else None,
        "modified": sorted(line[3:] for line in status.splitlines() if line.strip()),
    }
