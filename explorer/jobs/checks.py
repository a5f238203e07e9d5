"""Checks shared by the jobs before they touch an index: paths exist, features match."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from explorer.errors import IncompatibleIndexError, UsageError
from explorer.features.base import BackboneInfo, WeightsRef
from explorer.features.weights import check_weights


def check_exist(paths: Sequence[Path]) -> None:
    """Refuse a path that does not exist (a typo is not a file that "vanished").

    Raises:
        UsageError: Naming the first missing path.
    """
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError(f"no such file: {path}")


def check_compatible(actual: BackboneInfo, expected: BackboneInfo) -> None:
    """Refuse features from another backbone, layer or weights than the index's.

    Raises:
        IncompatibleIndexError: If they differ.
    """
    if (actual.name, actual.layer) != (expected.name, expected.layer):
        raise IncompatibleIndexError(
            f"the index holds {expected.describe()} features; cannot mix in "
            f"{actual.describe()}. Build a new index with --index PATH or --fresh."
        )
    check_weights(WeightsRef(actual.weights, actual.weights_sha256), expected)
