"""Inconsistent report data is rejected before anything is written (explorer.page.data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorer.page.data import ReportData
from explorer.page.render import write_report
from tests.test_report import make_report_data


@pytest.fixture(scope="module")
def report_data() -> ReportData:
    return make_report_data()


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"thumbnails": []}, "thumbnails"),
        ({"coords": np.zeros((3, 2), dtype=np.float32)}, "coords"),
        ({"labels": np.zeros(3, dtype=np.int32)}, "labels"),
        ({"neighbor_scores": np.zeros((3, 5), dtype=np.float32)}, "neighbor_scores"),
        ({"cluster_names": ["only one"]}, "cluster_names"),
        ({"paths": []}, "paths"),
        ({"neighbors": np.full((33, 5), 99, dtype=np.int32)}, "neighbors"),
        ({"representatives": [[0], [1], [2], [500]]}, "representatives"),
    ],
)
def test_inconsistent_data_is_rejected(
    report_data: ReportData, tmp_path: Path, change: dict[str, object], name: str
) -> None:
    data = ReportData(**{**report_data.__dict__, **change})
    with pytest.raises(ValueError, match=name):
        write_report(data, tmp_path / "r.html")


@pytest.mark.parametrize(
    ("change", "name"),
    [
        (lambda d: {"tags": d.tags[:-1]}, "tags"),
        (lambda d: {"tags": ["warm"] * len(d.paths)}, "tags"),
        (lambda d: {"tags": [[1]] * len(d.paths)}, "tags"),
        (lambda d: {"exact_copies": [[0]]}, "exact_copies"),  # one row is no copy
        (lambda d: {"exact_copies": [[0, 1], [1, 2]]}, "exact_copies"),  # a row in two sets
        (lambda d: {"exact_copies": [[0, len(d.paths)]]}, "exact_copies"),  # out of range
        (lambda d: {"duplicate_keepers": []}, "duplicate_keepers"),
        (lambda d: {"duplicate_keepers": [0]}, "duplicate_keepers"),  # not a member
        (lambda d: {"duplicate_histogram": [(0.9, 1), (0.8, 2)]}, "duplicate_histogram"),
        (lambda d: {"duplicate_histogram": [(0.8, 2), (0.8, 2)]}, "duplicate_histogram"),
        (lambda d: {"duplicate_histogram": [(0.8, -1)]}, "duplicate_histogram"),
        (lambda d: {"duplicate_histogram": [(float("nan"), 1)]}, "duplicate_histogram"),
        (lambda d: {"duplicate_histogram": [(0.8,)]}, "duplicate_histogram"),
        (lambda d: {"dup_threshold": 1.5}, "dup_threshold"),
        (lambda d: {"dup_threshold": float("nan")}, "dup_threshold"),
    ],
)
def test_inconsistent_optional_fields_are_rejected(
    report_data: ReportData,
    tmp_path: Path,
    change: Callable[[ReportData], dict[str, Any]],
    name: str,
) -> None:
    data = replace(report_data, **change(report_data))
    with pytest.raises(ValueError, match=f"data.{name} "):
        write_report(data, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_negative_embed_limit_is_rejected(report_data: ReportData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="embed_limit"):
        write_report(report_data, tmp_path / "r.html", embed_limit=-1)
