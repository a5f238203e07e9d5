"""The extract stage of build and add: new rows from files, checkpointed, poison kept out.

Features come from :func:`explorer.features.extract.extract` in this process or
from Ray workers (:mod:`explorer.jobs.engine`); every ``checkpoint_every`` rows
are written to a checkpoint chunk, so a killed or interrupted run resumes
where it stopped. Files that crashed or hung a decoder are quarantined and
skipped, and retried once they change.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from explorer.errors import Interrupted
from explorer.features.base import Backbone, BackboneInfo
from explorer.features.extract import Batch, extract
from explorer.inputs.scan import Candidate
from explorer.inputs.skips import Skipped, SkipReason
from explorer.jobs.checks import check_compatible
from explorer.jobs.engine import LOCAL, BackboneLoader, Engine, Poisoned, ray_batches
from explorer.jobs.plan import skip_record
from explorer.progress import Progress
from explorer.store import quarantine
from explorer.store.checkpoints import write_chunk
from explorer.store.records import SkipRecord
from explorer.store.rows import Rows, record_path
from explorer.text import count, plural

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 128  # images per checkpoint chunk
POISON_DETAIL = "quarantined: decoding it crashed or hung in an earlier run"


@dataclass
class Extraction:
    """What one extraction run made: rows, skips, the model's identity and timings."""

    rows: Rows = field(default_factory=Rows)
    skipped: list[SkipRecord] = field(default_factory=list)
    backbone: BackboneInfo | None = None  # None: the model was never loaded
    seconds: float = 0.0  # decoding and inference, the model load excluded
    load_seconds: float = 0.0
    saved: int = 0  # rows written to checkpoint chunks


def extract_rows(
    todo: list[Candidate],
    *,
    root: Path,
    index_path: Path,
    load: BackboneLoader,
    expected: BackboneInfo | None,
    progress: Progress,
    checkpoint_every: int = CHECKPOINT_EVERY,
    batch_size: int | None = None,
    engine: Engine = LOCAL,
) -> Extraction:
    """Extract ``todo`` with ``engine``, checkpointing every ``checkpoint_every`` rows.

    Args:
        todo: The files to extract.
        root: The indexed folder (record paths are relative to it).
        index_path: The index folder, where checkpoints and the quarantine live.
        load: The model's recipe: loaded here when a file first needs it, or by each Ray worker.
        expected: The backbone the new rows must match, if any is fixed yet.
        progress: Progress hook (``extracting``).
        checkpoint_every: Rows per checkpoint chunk.
        batch_size: Images per model call (default: the backbone's own).
        engine: This process, or Ray workers.

    Raises:
        Interrupted: On Ctrl-C, after checkpointing every row already embedded.
        IncompatibleIndexError: The model loaded differs from ``expected``.
    """
    out = Extraction()
    todo = _skip_poison(todo, root=root, index_path=index_path, skipped=out.skipped)
    if not todo:
        return out
    advance = progress("extracting", len(todo))

    def started(info: BackboneInfo, seconds: float) -> None:
        out.load_seconds = seconds
        if expected is not None:
            check_compatible(info, expected)
        out.backbone = info

    def get_backbone() -> Backbone:
        loading = time.perf_counter()
        backbone = load()
        started(backbone.info, time.perf_counter() - loading)
        return backbone

    start = time.perf_counter()
    journal = quarantine.Journal(index_path)
    paths = [c.path for c in todo]
    batches: Iterator[Batch | Skipped | Poisoned]
    if engine.name == "ray":
        batches = ray_batches(
            paths,
            engine=engine,
            loader=load,
            batch_size=batch_size,
            index_path=index_path,
            on_start=started,
        )
    else:
        timeout = quarantine.decode_timeout()
        batches = extract(
            paths, get_backbone, batch_size=batch_size, journal=journal, timeout=timeout
        )
    try:
        _consume(
            batches, out, root=root, index_path=index_path, advance=advance, every=checkpoint_every
        )
    except KeyboardInterrupt:
        # the batches already embedded are kept; the one in flight is dropped
        kept = _save_rest(out, index_path)
        raise Interrupted(
            f"interrupted: {count(kept, 'image')} extracted in this run "
            f"{plural(kept, 'is', 'are')} saved; run the same command to resume",
            saved=kept,
        ) from None
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # stops the decoding threads, also when Ctrl-C came between batches
        journal.close()
    _save_rest(out, index_path)
    out.seconds = time.perf_counter() - start - out.load_seconds
    return out


def _save_rest(out: Extraction, index_path: Path) -> int:
    """Checkpoint every row extracted so far and not yet saved; how many rows are kept."""
    if out.backbone is not None and len(out.rows) > out.saved:
        write_chunk(index_path, out.rows.take_chunk(out.saved, out.backbone))
        out.saved = len(out.rows)
    return out.saved


def _consume(
    batches: Iterator[Batch | Skipped | Poisoned],
    out: Extraction,
    *,
    root: Path,
    index_path: Path,
    advance: Callable[[int], None],
    every: int,
) -> None:
    """Collect extraction results into ``out``, checkpointing every ``every`` rows."""
    for item in batches:
        if isinstance(item, Poisoned):
            out.skipped.append(_quarantine(item, root=root, index_path=index_path))
            advance(1)
            continue
        if isinstance(item, Skipped):
            out.skipped.append(skip_record(item, root))
            advance(1)
            continue
        assert out.backbone is not None
        out.rows.add_batch(item, root)
        advance(len(item.images))
        if len(out.rows) - out.saved >= every:
            _save_rest(out, index_path)


def _quarantine(item: Poisoned, *, root: Path, index_path: Path) -> SkipRecord:
    """Quarantine a file that crashed or hung a Ray worker, as a local re-run would."""
    key = record_path(item.path, root)
    try:
        st = os.stat(item.path)
    except OSError:
        return SkipRecord(key, SkipReason.VANISHED.value, "")
    entries = quarantine.load(index_path)
    entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "reason": item.reason}
    quarantine.save(index_path, entries)
    log.warning("quarantined %s (%s)", key, item.reason)
    return SkipRecord(key, item.reason, POISON_DETAIL)


def _skip_poison(
    todo: list[Candidate], *, root: Path, index_path: Path, skipped: list[SkipRecord]
) -> list[Candidate]:
    """Drop quarantined files; re-try alone, in a subprocess, files an earlier run died on."""
    entries = quarantine.load(index_path)
    suspects = {os.fsencode(p) for p in quarantine.suspects(index_path)}
    changed = False
    keep = []
    for cand in todo:
        key = record_path(cand.path, root)
        entry = entries.get(key)
        if entry is not None and (entry.get("size"), entry.get("mtime_ns")) != (
            cand.size,
            cand.mtime_ns,
        ):
            del entries[key]  # the file changed: give it another chance
            changed, entry = True, None
        if entry is None and os.fsencode(cand.path) in suspects:
            reason = quarantine.probe(cand.path)
            if reason is not None:
                entry = {"size": cand.size, "mtime_ns": cand.mtime_ns, "reason": reason}
                entries[key], changed = entry, True
                log.warning("quarantined %s (%s)", key, reason)
        if entry is None:
            keep.append(cand)
        else:
            skipped.append(SkipRecord(key, str(entry["reason"]), POISON_DETAIL))
    if changed:
        quarantine.save(index_path, entries)
    return keep
