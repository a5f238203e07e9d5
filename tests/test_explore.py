"""Stored analysis, `explorer report`, and the real pipeline's report in a browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from explorer.cli import app
from explorer.errors import UsageError
from explorer.jobs.build import build
from explorer.jobs.report import default_report_path, report
from explorer.store.index import Index
from tests.helpers import FAMILIES, HOSTILE, Loads, build_fake_index, cli, make_family_image

runner = CliRunner()


def test_report_stores_and_reuses_analysis(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    index = tmp_path / "idx"
    build(families, index_path=index, backbone="fake", weights="w")
    out = tmp_path / "r.html"
    first = report(index, out=out)
    assert first.path == out and out.is_file() and not first.reused_analysis
    assert first.clusters == 3 and first.cluster_method == "silhouette"  # three colour families
    stored = Index(index).analysis()
    assert stored is not None and stored.coords.shape == (12, 2)
    assert stored.neighbors.shape == (12, 11)  # the shared k-NN graph, capped at n - 1
    labels = {r.path.split("/")[-1].split("-")[0]: set() for r in Index(index).records}
    for r, label in zip(Index(index).records, stored.labels, strict=True):
        labels[r.path.split("/")[-1].split("-")[0]].add(int(label))
    assert all(len(v) == 1 for v in labels.values())  # each family is one cluster
    assert len({next(iter(v)) for v in labels.values()}) == 3
    second = report(index, out=out)
    assert second.reused_analysis
    assert np.array_equal(Index(index).analysis().coords, stored.coords)  # type: ignore[union-attr]
    forced = report(index, out=out, clusters=2)
    assert forced.clusters == 2 and forced.cluster_method == "fixed" and not forced.reused_analysis
    with pytest.raises(UsageError, match="clusters must be between 1 and the number of images"):
        report(index, out=out, clusters=99)


def test_default_report_path_is_named_after_the_folder() -> None:
    assert default_report_path("/photos/my cats") == Path("reports/my_cats.html")
    assert default_report_path("/") == Path("reports/index.html")


def test_cli_report_and_info(families: Path, tmp_path: Path, fake_backbone: Loads) -> None:
    idx = str(tmp_path / "idx")
    out = tmp_path / "map.html"
    result = runner.invoke(
        app,
        [
            "build",
            str(families),
            "--index",
            idx,
            "--backbone",
            "fake",
            "--out",
            str(out),
            "--clusters",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["report"] == str(out) and summary["clusters"] == 3 and out.is_file()
    result = runner.invoke(app, ["report", "--index", idx, "--out", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["clusters"] >= 2
    result = runner.invoke(app, ["info", "--index", idx])
    assert result.exit_code == 0 and "clusters:  3 (fixed)" in result.stdout
    result = runner.invoke(app, ["build", str(families), "--index", idx, "--clusters", "x"])
    assert result.exit_code == 2 and "--clusters" in result.stderr
    # --dup-threshold regroups without the model, and later commands remember it
    groups = {}
    for t in ("1.0", "0.5"):
        args = ["report", "--index", idx, "--out", str(out), "--dup-threshold", t, "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        groups[t] = json.loads(result.stdout)["duplicate_groups"]
        dups = runner.invoke(app, ["duplicates", "--index", idx, "--json"])
        assert dups.exit_code == 0 and json.loads(dups.stdout)["threshold"] == float(t)
        assert len(json.loads(dups.stdout)["groups"]) == groups[t]
    # only exact copies reach 1.0 (there are none); same-colour images pair up at 0.5
    # (blue-2 and blue-3 share their square's place: 0.9992, one picture up to noise)
    assert groups["1.0"] == 0 < groups["0.5"]
    assert "cosine ≥ 0.5" in out.read_text()
    result = runner.invoke(app, ["report", "--index", idx, "--dup-threshold", "1.5"])
    assert result.exit_code == 2 and "dup-threshold" in result.stderr


def _stored_analysis(idx: Path) -> dict[str, object]:
    code, out, err = cli("info", "--index", str(idx), "--json")
    assert code == 0, err
    return json.loads(out)["analysis"]  # type: ignore[no-any-return]


def test_report_refuses_a_zero_threshold_before_any_work(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: "report --dup-threshold 0" exited 0, used 0.75, stored 0, broke "duplicates"."""
    idx = tmp_path / "idx"
    build_fake_index(families, idx)
    manifest = (idx / "manifest.json").read_bytes()
    out = tmp_path / "zero.html"
    for t in ("0", "0.0", "-0.5", "1.5"):
        code, _, err = cli("report", "--index", str(idx), "--out", str(out), "--dup-threshold", t)
        assert code == 2 and "--dup-threshold must be in (0, 1]" in err, (t, err)
    assert (idx / "manifest.json").read_bytes() == manifest and not out.exists()  # nothing stored
    # the core refuses it too, before reading anything (a Python caller has no CLI check)
    import explorer.analysis.stored as stored

    monkeypatch.setattr(stored, "analyse", lambda *a, **k: pytest.fail("analysed"))
    with pytest.raises(UsageError, match=r"\(0, 1\]"):
        report(idx, out=out, dup_threshold=0.0)
    assert (idx / "manifest.json").read_bytes() == manifest and not out.exists()
    monkeypatch.undo()
    code, dups, err = cli("duplicates", "--index", str(idx), "--json")
    assert code == 0, err
    assert json.loads(dups)["threshold"] == _stored_analysis(idx)["dup_threshold"] == 0.85


def test_an_index_that_stored_a_zero_threshold_still_works(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    """An index an older explorer left with dup_threshold 0.0 opens; the default replaces it."""
    from explorer.store.commit import save_analysis
    from explorer.store.folder import lock_index

    idx = tmp_path / "idx"
    build_fake_index(families, idx)
    analysis = Index(idx).analysis()
    assert analysis is not None
    analysis.info["dup_threshold"] = 0.0  # exactly what the old 'report --dup-threshold 0' did
    with lock_index(idx, command="test"):
        assert save_analysis(idx, analysis)
    code, dups, err = cli("duplicates", "--index", str(idx), "--json")
    assert code == 0, err
    groups = len(json.loads(dups)["groups"])
    assert json.loads(dups)["threshold"] == 0.85  # the backbone's default, not 0
    stored = _stored_analysis(idx)
    assert stored["dup_threshold"] == 0.85 and stored["duplicate_groups"] == groups  # repaired


def test_info_shows_the_group_count_of_the_threshold_it_shows(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    """Issue 14: after 'report --dup-threshold 0.99', info showed the new threshold, old count."""
    idx = tmp_path / "idx"
    build_fake_index(families, idx)
    before = _stored_analysis(idx)
    assert before["duplicate_groups"] == 1  # blue-2 and blue-3 (cosine 0.9992)
    out = str(tmp_path / "r.html")
    counts = {}
    for t in ("1.0", "0.5", "0.85"):
        code, done, err = cli("report", "--index", str(idx), "--out", out, "--dup-threshold", t)
        assert code == 0, err
        code, done, err = cli("report", "--index", str(idx), "--out", out, "--json")
        assert code == 0, err
        summary = json.loads(done)
        assert summary["reused_analysis"]  # clusters and map kept: only the groups were redone
        stored = _stored_analysis(idx)
        code, dups, err = cli("duplicates", "--index", str(idx), "--json")
        assert code == 0, err
        shown = json.loads(dups)
        assert stored["dup_threshold"] == shown["threshold"] == float(t)
        assert stored["duplicate_groups"] == len(shown["groups"]) == summary["duplicate_groups"]
        assert stored["k"] == before["k"] and stored["generation"] == before["generation"]
        counts[t] = len(shown["groups"])
    assert counts["1.0"] == 0 < counts["0.85"] <= counts["0.5"]  # the counts did change


@pytest.mark.slow
def test_pipeline_report_in_a_real_browser(tmp_path: Path) -> None:
    """`explorer build` (real process) on a folder holding the hostile name, opened in Chromium."""
    from browser_harness import check_report_in_browser

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, colour in FAMILIES.items():
        for i in range(5):
            make_family_image(photos / f"{name}-{i}.png", colour, seed=i * 7 + len(name))
    make_family_image(photos / HOSTILE, FAMILIES["red"], seed=3)
    out = tmp_path / "report.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "explorer",
            "build",
            str(photos),
            "--backbone",
            "pixels",
            "--out",
            str(out),
            "--quiet",
            "--index",
            str(tmp_path / "idx"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    assert HOSTILE not in html  # only ever present escaped
    r = check_report_in_browser(out, HOSTILE)
    assert r["dialogs"] == [] and r["console_errors"] == [] and r["page_errors"] == []
    assert r["injected"] == 0 and r["load_s"] < 3.0
    assert r["tooltip_name"] == HOSTILE and r["pinned_name"] == HOSTILE
    assert len(r["tooltip_images"]) == 6 and all(w > 0 for w in r["tooltip_images"])
    assert len(r["panel_neighbors"]) == 5 and all(w > 0 for w in r["panel_images"])
    assert r["moved_to"] == r["panel_neighbors"][0]
