"""Where features are extracted: in this process (``local``) or on a Ray cluster (``ray``).

The Ray engine keeps file listing, change detection, checkpoints and the index
on the machine that runs ``explorer build`` (the driver). Only decoding and
the network run on Ray workers: one actor per worker loads the backbone once
and embeds the files of each task it is given, with the same
:func:`~explorer.extract.extract` code as the local engine, so bad files get
the same skip reasons. Results come back in input order, so the driver writes
the same checkpoint chunks as a local run.

Failures:

- A worker process that dies (killed, out of memory, a crashing decoder) is
  restarted by Ray and its task re-run (``max_restarts``/``max_task_retries``).
- A task that still fails, or whose decode hangs, is taken apart on the driver:
  each of its files is decoded alone in a subprocess
  (:func:`explorer.store.quarantine.probe`). Files that crash or hang it are
  quarantined exactly as the local engine does (``decoder_crash``,
  ``decode_timeout``); the others go back to the workers once more.

Ray is an optional extra (``pip install "explorer[ray]"``), imported only here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from explorer.errors import ExplorerError, UsageError
from explorer.features.base import Backbone, BackboneInfo
from explorer.features.extract import Batch, DecodeHangError, extract
from explorer.features.registry import load_backbone
from explorer.inputs.skips import Skipped
from explorer.store import quarantine

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
TASK_BATCHES = 2  # model batches per Ray task: small enough to balance, big enough to overlap
TASKS_PER_ACTOR = 2
DEFAULT_BATCH = 16  # images per model batch when not given (the backbones' own default)
MAX_RESTARTS = 8  # per actor; a worker that keeps dying is a broken node, not a bad file
TASK_RETRIES = 2  # per task, before the driver probes its files one by one


@dataclass(frozen=True)
class Engine:
    """How to run extraction.

    Attributes:
        name: ``"local"`` (this process) or ``"ray"``.
        address: Ray cluster to join (``"auto"``, ``"ray://host:10001"``...);
            ``None``: ``RAY_ADDRESS`` if set, else a new local Ray instance.
        workers: Ray actors (one backbone each); ``None``: one per GPU when
            the cluster has GPUs, else one per CPU.
    """

    name: str = "local"
    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise UsageError(f"unknown engine {self.name!r}; choose one of: {', '.join(ENGINES)}")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {self.workers}")


LOCAL = Engine()


@dataclass(frozen=True)
class BackboneLoader:
    """A picklable recipe for a backbone, so Ray workers can build their own."""

    name: str
    weights: str
    seed: int = 0

    def __call__(self) -> Backbone:
        """Build the backbone (imports TensorFlow if it needs it)."""
        return load_backbone(self.name, self.weights, seed=self.seed)


@dataclass(frozen=True)
class Poisoned:
    """A file that crashed or hung a worker's decoder; it is quarantined."""

    path: Path
    reason: str


def import_ray() -> Any:
    """Import Ray, or say how to install it."""
    # Ray's driver replaces builtins.print (for its distributed tqdm) the first
    # time it shows a worker's output, and never puts it back; numba then
    # fails to compile UMAP's and pynndescent's code later in the same process.
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    try:
        import ray
    except ImportError:
        raise UsageError(
            '--engine ray needs Ray: pip install "explorer[ray]" (or pip install ray)'
        ) from None
    return ray


@dataclass(frozen=True)
class _Result:
    """What one task sends back: its items, and the worker's backbone once it has one."""

    items: list[Batch | Skipped]
    info: BackboneInfo | None
    load_seconds: float


class _Worker:
    """The body of a Ray actor: one backbone, loaded at the first readable image."""

    def __init__(self, loader: BackboneLoader, threads: int) -> None:
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
        self.loader = loader
        self.backbone: Backbone | None = None

    def ready(self) -> bool:
        """Answer once the worker process is up (its model loads with the first image)."""
        return True

    def embed(self, paths: list[Path], batch_size: int | None) -> _Result:
        """Decode and embed ``paths``; results in input order, model inputs dropped."""
        load_seconds = 0.0

        def get_backbone() -> Backbone:
            nonlocal load_seconds
            if self.backbone is None:
                started = time.perf_counter()
                self.backbone = self.loader()
                load_seconds = time.perf_counter() - started
            return self.backbone

        out: list[Batch | Skipped] = []
        for item in extract(
            paths, get_backbone, batch_size=batch_size, timeout=quarantine.decode_timeout()
        ):
            if isinstance(item, Batch):  # the 224x224 pixels need not travel back
                empty = np.zeros((0,), np.uint8)
                item = Batch([replace(im, pixels=empty) for im in item.images], item.embedding)
            out.append(item)
        info = None if self.backbone is None else self.backbone.info
        return _Result(out, info, load_seconds)


@dataclass
class _Task:
    number: int
    paths: list[Path]
    retried: bool = False


class RayExtraction:
    """Runs extraction tasks on Ray actors; iterate :meth:`run` for ordered results."""

    def __init__(
        self,
        engine: Engine,
        loader: BackboneLoader,
        *,
        batch_size: int | None,
        on_start: Callable[[BackboneInfo, float], None],
    ) -> None:
        self.engine = engine
        self.loader = loader
        self.batch_size = batch_size
        self.task_size = TASK_BATCHES * (batch_size or DEFAULT_BATCH)
        self.info: BackboneInfo | None = None
        self.startup_seconds = 0.0
        self._on_start = on_start
        self._ray = import_ray()
        self._actors: list[Any] = []

    def start(self) -> None:
        """Join (or start) Ray and start the actors (each loads its model when needed)."""
        ray = self._ray
        started = time.perf_counter()
        if not ray.is_initialized():
            address = self.engine.address or os.environ.get("RAY_ADDRESS") or "local"
            ray.init(
                address=address,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        workers = self.engine.workers or (gpus or cpus)
        threads = max(1, cpus // workers) if not gpus else 1
        env = {k: v for k, v in os.environ.items() if k.startswith("EXPLORER_")}
        actor_class = ray.remote(_Worker).options(
            num_cpus=1,
            num_gpus=1 if gpus else 0,
            max_restarts=MAX_RESTARTS,
            max_task_retries=TASK_RETRIES,
            runtime_env={"env_vars": env} if env else None,
        )
        self._actors = [actor_class.remote(self.loader, threads) for _ in range(workers)]
        ray.get([actor.ready.remote() for actor in self._actors])
        self.startup_seconds = time.perf_counter() - started
        log.info("ray engine: %d workers, %d images per task", workers, self.task_size)

    def _check(self, result: _Result) -> list[Batch | Skipped]:
        """Note the first worker's backbone; refuse workers that loaded other weights."""
        if result.info is not None:
            if self.info is None:
                self.info = result.info
                self._on_start(result.info, self.startup_seconds + result.load_seconds)
            elif result.info != self.info:
                raise ExplorerError(
                    f"Ray workers loaded different weights ({result.info.weights_sha256[:12]} "
                    f"and {self.info.weights_sha256[:12]}); give every node the same weights file"
                )
        return result.items

    def run(self, paths: list[Path], *, index_path: Path) -> Iterator[Batch | Skipped | Poisoned]:
        """Extract ``paths`` on the actors; yield results in input order."""
        ray = self._ray
        size = self.task_size
        tasks = [_Task(n, paths[i : i + size]) for n, i in enumerate(range(0, len(paths), size))]
        queue = list(reversed(tasks))
        # two tasks queued per actor, so a worker starts its next task without
        # waiting for the driver to collect the last one
        idle = list(self._actors) * TASKS_PER_ACTOR
        running: dict[Any, tuple[_Task, Any]] = {}
        done: dict[int, list[Batch | Skipped | Poisoned]] = {}
        extra: dict[int, list[Batch | Skipped | Poisoned]] = {}
        window = 2 * len(idle)  # tasks ahead of the oldest one not yet yielded
        next_out = 0
        while next_out < len(tasks):
            while idle and queue and queue[-1].number < next_out + window:
                task, actor = queue.pop(), idle.pop()
                ref = actor.embed.remote(task.paths, self.batch_size)
                running[ref] = (task, actor)
            if running:
                (ref,), _ = ray.wait(list(running), num_returns=1)
                task, actor = running.pop(ref)
                idle.append(actor)
                try:
                    items = self._check(ray.get(ref))
                    done[task.number] = extra.pop(task.number, []) + list(items)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if exc.cause is not None else exc
                    if not isinstance(cause, DecodeHangError):
                        raise cause from None
                    with contextlib.suppress(Exception):  # a thread is stuck: restart it
                        ray.kill(actor, no_restart=False)
                    self._salvage(task, queue, done, extra, index_path=index_path)
                except ray.exceptions.RayError:
                    self._salvage(task, queue, done, extra, index_path=index_path)
            while next_out in done:
                yield from done.pop(next_out)
                next_out += 1

    def _salvage(
        self,
        task: _Task,
        queue: list[_Task],
        done: dict[int, list[Batch | Skipped | Poisoned]],
        extra: dict[int, list[Batch | Skipped | Poisoned]],
        *,
        index_path: Path,
    ) -> None:
        """Probe a failed task's files alone; quarantine the bad, re-queue the rest once."""
        if task.retried:
            raise ExplorerError(
                f"Ray workers kept failing on {len(task.paths)} files that decode fine alone "
                f"(first: {task.paths[0]}); checkpoints are kept: run the same command again, "
                "or use --engine local"
            )
        log.warning("a Ray task of %d files failed; probing them one by one", len(task.paths))
        good: list[Path] = []
        found: list[Batch | Skipped | Poisoned] = extra.setdefault(task.number, [])
        for path in task.paths:
            reason = quarantine.probe(path)
            if reason is None:
                good.append(path)
            else:
                found.append(Poisoned(path, reason))
        if good:
            queue.append(_Task(task.number, good, retried=True))
        else:
            done[task.number] = extra.pop(task.number)

    def stop(self) -> None:
        """Release the actors (the Ray instance stays up for the rest of the process)."""
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor)
        self._actors = []


def ray_batches(
    paths: list[Path],
    *,
    engine: Engine,
    loader: BackboneLoader,
    batch_size: int | None,
    index_path: Path,
    on_start: Callable[[BackboneInfo, float], None],
) -> Iterator[Batch | Skipped | Poisoned]:
    """Extract ``paths`` with the Ray engine.

    ``on_start(info, load_seconds)`` is called when the first model is loaded
    (by the first readable image), before any of its features are yielded;
    ``load_seconds`` counts Ray's start-up (joining or starting Ray, starting
    the worker processes) and that worker's model load.
    """
    run = RayExtraction(engine, loader, batch_size=batch_size, on_start=on_start)
    try:
        run.start()
        yield from run.run(paths, index_path=index_path)
    finally:
        run.stop()
