"""AnalysisParams (explorer.analysis.params) and the freshness rule (explorer.analysis.stored)."""

from __future__ import annotations

import dataclasses

import pytest

from explorer.analysis.params import AnalysisParams, check_request, default_dup_threshold, resolve
from explorer.analysis.stored import AnalysisInfo, Staleness, staleness
from explorer.errors import UsageError
from explorer.features.base import DEFAULT_DUP_THRESHOLD
from explorer.features.registry import BACKBONES


def test_params_are_checked_when_made_and_frozen() -> None:
    p = AnalysisParams(clusters=4, dup_threshold=0.9, seed=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 3  # type: ignore[misc]
    assert AnalysisParams(dup_threshold=1.0).dup_threshold == 1.0  # 1 is allowed: exact copies
    for bad in (0.0, -0.2, 1.01, float("nan")):
        with pytest.raises(UsageError, match=r"must be in \(0, 1\]"):
            AnalysisParams(dup_threshold=bad)
    with pytest.raises(UsageError, match="at least 1"):
        AnalysisParams(clusters=0)
    with pytest.raises(UsageError, match="seed"):
        AnalysisParams(seed=-1)
    with pytest.raises(UsageError, match="seed"):
        AnalysisParams(seed=2**32)


def test_check_request_names_the_option_and_lets_defaults_through() -> None:
    check_request()  # nothing asked for: nothing to refuse
    check_request(clusters="auto", dup_threshold=None, seed=None)
    with pytest.raises(UsageError, match=r"--dup-threshold must be in \(0, 1\], got 0"):
        check_request(dup_threshold=0.0, names={"dup_threshold": "--dup-threshold"})
    with pytest.raises(UsageError, match="--clusters must be at least 1, got 0"):
        check_request(clusters=0, names={"clusters": "--clusters"})


def test_resolve_keeps_what_is_not_asked_for() -> None:
    stored = AnalysisParams(clusters=5, dup_threshold=0.8, seed=2)
    assert resolve(stored) == stored
    assert resolve(stored, clusters="auto") == AnalysisParams(None, 0.8, 2)
    assert resolve(stored, clusters=3, dup_threshold=0.95, seed=0) == AnalysisParams(3, 0.95, 0)
    with pytest.raises(UsageError):
        resolve(stored, dup_threshold=0.0)


def test_default_threshold_is_the_backbones_own_else_the_fallback() -> None:
    for name, spec in BACKBONES.items():
        expected = DEFAULT_DUP_THRESHOLD if spec.dup_threshold is None else spec.dup_threshold
        assert default_dup_threshold(name) == expected
    assert default_dup_threshold("no-such-backbone") == DEFAULT_DUP_THRESHOLD
    assert 0.0 < DEFAULT_DUP_THRESHOLD <= 1.0


def _info(**changes: object) -> AnalysisInfo:
    base = AnalysisInfo(
        params=AnalysisParams(clusters=None, dup_threshold=0.85, seed=0),
        k=3,
        method="silhouette",
        silhouette=0.5,
        candidates={2: 0.4, 3: 0.5},
        dup_threshold_default=0.85,
        duplicate_groups=1,
        generation="g1",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_stored_entry_reads_back_as_written() -> None:
    info = _info()
    data = info.to_json()
    assert list(data) == [  # the manifest keys every explorer version wrote, in order
        "k",
        "method",
        "silhouette",
        "candidates",
        "clusters_requested",
        "dup_threshold",
        "dup_threshold_default",
        "duplicate_groups",
        "seed",
        "generation",
    ]
    assert data["candidates"] == {"2": 0.4, "3": 0.5}
    assert AnalysisInfo.from_json(data, defaults=AnalysisParams()) == info


def test_an_older_entry_takes_the_defaults_and_a_zero_threshold_is_repaired() -> None:
    defaults = AnalysisParams(dup_threshold=0.78, seed=4)
    old = AnalysisInfo.from_json({"k": 2, "method": "fixed", "generation": "g"}, defaults=defaults)
    assert old.params == defaults and old.duplicate_groups is None and not old.repaired
    broken = _info().to_json() | {"dup_threshold": 0.0}  # what 'report --dup-threshold 0' stored
    parsed = AnalysisInfo.from_json(broken, defaults=defaults)
    assert parsed.params.dup_threshold == 0.78 and parsed.repaired
    assert parsed.params.seed == 0  # the valid stored values are kept
    assert staleness(parsed, parsed.params, generation="g1") is Staleness.GROUPS  # rewritten


def test_one_freshness_rule() -> None:
    info = _info()
    p = info.params
    assert staleness(info, p, generation="g1") is Staleness.CURRENT
    assert staleness(None, p, generation="g1") is Staleness.ALL
    assert staleness(info, p, generation="g2") is Staleness.ALL  # images added or removed
    assert staleness(info, dataclasses.replace(p, seed=1), generation="g1") is Staleness.ALL
    assert staleness(info, dataclasses.replace(p, clusters=3), generation="g1") is Staleness.ALL
    # another threshold only needs the groups counted again
    other = dataclasses.replace(p, dup_threshold=0.9)
    assert staleness(info, other, generation="g1") is Staleness.GROUPS
    # an older entry without a count is current: a read-only command does not rewrite it
    assert staleness(_info(duplicate_groups=None), p, generation="g1") is Staleness.CURRENT
