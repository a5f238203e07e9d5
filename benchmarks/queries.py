"""Query latency of ``explorer similar``, for ``benchmarks/extract.py --queries N``.

Three kinds of query against one index, each as a command in a fresh
interpreter (what a user runs: Python start-up, imports and, for new images,
TensorFlow and the model load included) and in process with everything
already loaded:

- an image that is already indexed: its stored vector is reused, so neither
  form may load the model or import TensorFlow;
- one new image: the command loads the model; in process, the model is loaded
  once beforehand (``query_model_load_s``) and handed to every call
  (``similar(..., backbone=)``), which otherwise builds the network again on
  each call;
- a folder of N new images in one call: queries per second, with and without
  the model load.

Each is run ``runs`` times and the best time is kept (other processes only
ever slow a run down); every run is listed too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Meter, run_cli_lines, say  # benchmarks/common.py

from explorer.features.base import Backbone
from explorer.features.registry import load_backbone
from explorer.inputs.scan import scan_folder
from explorer.jobs import similar as query
from explorer.store.index import Index

K = 5  # results per query, the CLI's default


def _check(results: list[dict[str, Any]], queries: int, *, what: str) -> None:
    """Every query answered with K results; stop the benchmark otherwise."""
    bad = [r for r in results if r.get("skipped") or len(r.get("results", [])) != K]
    if len(results) != queries or bad:
        raise SystemExit(f"{what}: expected {queries} answers of {K} results, got {results[:3]}")


def _best(seconds: list[float]) -> float:
    return round(min(seconds), 3)


def _runs(seconds: list[float]) -> list[float]:
    return [round(s, 3) for s in seconds]


def time_cli(
    args: list[str], *, queries: int, runs: int, meter: Meter, key: str, cwd: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``explorer similar ARGS --json --quiet`` as a new process, ``runs`` times."""
    seconds: list[float] = []
    tf_imported = False
    lines: list[dict[str, Any]] = []
    for r in range(1, runs + 1):
        with meter.measure(f"{key}_{r}") as phase:
            lines, tf = run_cli_lines(["similar", *args], cwd=cwd)
        _check(lines, queries, what=key)
        seconds.append(phase.seconds)
        tf_imported = tf_imported or tf
        say(f"{key} run {r}: {phase.seconds:.2f} s, TensorFlow imported: {tf}")
    out = {
        f"{key}_s": _best(seconds),
        f"{key}_runs_s": _runs(seconds),
        f"{key}_tensorflow_imported": tf_imported,
    }
    return out, lines


def time_in_process(
    call: Callable[[], list[query.QueryResult]],
    *,
    queries: int,
    runs: int,
    meter: Meter,
    key: str,
) -> tuple[dict[str, Any], list[query.QueryResult]]:
    """``explorer.jobs.similar.similar`` in this process: a first call, then ``runs`` more."""
    seconds: list[float] = []
    results: list[query.QueryResult] = []
    for r in range(runs + 1):
        with meter.measure(f"{key}_{r}" if r else f"{key}_first") as phase:
            results = call()
        answers = [{"skipped": x.skipped, "results": [m.score for m in x.matches]} for x in results]
        _check(answers, queries, what=key)
        seconds.append(phase.seconds)
        say(f"{key} {'run ' + str(r) if r else 'first call'}: {phase.seconds:.3f} s")
    out = {
        f"{key}_first_s": round(seconds[0], 3),
        f"{key}_s": _best(seconds[1:]),
        f"{key}_runs_s": _runs(seconds[1:]),
    }
    return out, results


def time_queries(
    index_path: Path, *, indexed: Path, new_dir: Path, runs: int, meter: Meter, cwd: Path
) -> dict[str, Any]:
    """All the query timings against ``index_path``.

    Args:
        index_path: The index to search.
        indexed: An image file the index holds, unchanged.
        new_dir: A folder of images the index does not hold (nor any byte-identical copy).
        runs: Timed runs of each measurement.
        meter: Times each run and notes the contention.
        cwd: Where the commands run (a temporary folder).

    Returns:
        The ``query_*`` figures.
    """
    index = Index(index_path)
    new_files = [c.path for c in scan_folder(new_dir).candidates]
    n = len(new_files)
    if n == 0:
        raise SystemExit(f"no query image in {new_dir}")
    one = new_files[0]
    where = ["--index", str(index_path), "--top", str(K)]
    out: dict[str, Any] = {
        "query_index_images": len(index.records),
        "query_k": K,
        "query_batch_n": n,
        "query_runs": runs,
    }

    cli, _ = time_cli(
        [str(indexed), *where], queries=1, runs=runs, meter=meter, key="query_indexed_cli", cwd=cwd
    )
    out.update(cli)
    cli, new_lines = time_cli(
        [str(one), *where], queries=1, runs=runs, meter=meter, key="query_new_cli", cwd=cwd
    )
    out.update(cli)
    cli, _ = time_cli(
        [str(new_dir), *where], queries=n, runs=runs, meter=meter, key="query_batch_cli", cwd=cwd
    )
    out.update(cli)
    out["query_batch_cli_queries_per_s"] = round(n / out["query_batch_cli_s"], 3)

    def similar(
        paths: list[Path], backbone: Backbone | None = None
    ) -> Callable[[], list[query.QueryResult]]:
        return lambda: query.similar(paths, index_path=index_path, k=K, backbone=backbone)

    warm, results = time_in_process(
        similar([indexed]), queries=1, runs=runs, meter=meter, key="query_indexed_warm"
    )
    out.update(warm)
    if not results[0].indexed:
        raise SystemExit(f"{indexed} was not found in the index as an indexed image")

    with meter.measure("query_model_load") as phase:
        backbone = load_backbone(index.backbone.name, index.backbone.weights)
    out["query_model_load_s"] = round(phase.seconds, 3)
    say(f"model loaded in process in {phase.seconds:.2f} s (TensorFlow already imported)")
    warm, results = time_in_process(
        similar([one], backbone), queries=1, runs=runs, meter=meter, key="query_new_warm"
    )
    out.update(warm)
    warm, _ = time_in_process(
        similar([new_dir], backbone), queries=n, runs=runs, meter=meter, key="query_batch_warm"
    )
    out.update(warm)
    out["query_batch_warm_queries_per_s"] = round(n / out["query_batch_warm_s"], 3)
    # The command and the in-process call must agree on the new image's neighbours.
    cli_scores = [r["score"] for r in new_lines[0]["results"]]
    own_scores = [round(m.score, 4) for m in results[0].matches]
    out["query_new_cli_matches_in_process"] = all(
        abs(a - b) <= 2e-3 for a, b in zip(cli_scores, own_scores, strict=True)
    )
    return out
