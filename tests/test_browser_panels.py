"""The report's side panels in headless Chromium (playwright).

The selection (fade, grid, copy, CSV, tag command), tags added in the page and
their round trip through ``explorer tag --import``, the search list, the
cluster cards, the pinned panel's history and its link to the original file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser_harness import open_page, pixel

from explorer.page.data import ReportData
from explorer.page.render import write_report

pytestmark = pytest.mark.slow


def _alphas(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => ({clusters: ExplorerApp.state.rends.map(r => r.glyph.fill_alpha.value),
          tagged: ExplorerApp.state.tagSrc.data.x.length,
          tag_alpha: Array.from(ExplorerApp.state.tagSrc.data.a)})"""
    )


def test_selection_fades_everything_outside_it(
    browser: Any, report_path: Path, report_data: ReportData
) -> None:
    page, errors = open_page(browser, report_path, 1440, 900)
    labels = report_data.labels.tolist()
    k = len(report_data.representatives)
    page.click("button.select-cluster[data-cluster='1']")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function(f"document.body.dataset.selected === '{labels.count(1)}'")
    a = _alphas(page)
    # the clusters the selection never touched fade like the unselected points
    assert [x for c, x in enumerate(a["clusters"]) if c != 1] == [0.08] * (k - 1)
    page.mouse.move(5, 5)
    page.wait_for_timeout(100)
    outside = pixel(page, labels.index(0))
    assert min(outside) > 215, outside  # nearly the map's background
    # coloured by a tag: every tagged image stays drawn, those outside the selection faded
    tags = report_data.tags or []
    names = sorted({t for ts in tags for t in ts})
    warm = [i for i, ts in enumerate(tags) if "warm" in ts]
    page.select_option("#color-by", value=str(names.index("warm")))
    page.wait_for_function("document.body.dataset.colorBy === 'tag'")
    a = _alphas(page)
    assert a["tagged"] == len(warm)  # as many as the legend counts
    assert page.text_content("#legend-tag .legend-count") == f"({len(warm)})"
    want = sorted(1.0 if labels[i] == 1 else 0.08 for i in warm)
    assert sorted(a["tag_alpha"]) == want
    assert [x for c, x in enumerate(a["clusters"]) if c != 1] == [0.08] * (k - 1)
    page.click("#clear-selection")
    page.wait_for_function("document.body.dataset.selected === '0'")
    a = _alphas(page)
    assert a["tag_alpha"] == [1.0] * len(warm) and 0.08 not in a["clusters"]
    assert errors == []
    page.context.close()


def test_selection_grid_copy_paths_and_tag_command(
    browser: Any, report_path: Path, report_data: ReportData
) -> None:
    page, errors = open_page(browser, report_path, 1280, 720)
    members = [i for i, c in enumerate(report_data.labels.tolist()) if c == 2]
    page.click("button.select-cluster[data-cluster='2']")
    page.wait_for_function(f"document.body.dataset.selected === '{len(members)}'")
    assert page.text_content("#selection .card-title") == f"Selection · {len(members)} images"
    grid = page.eval_on_selector_all(
        "#selection .sel-thumb", "bs => bs.map(b => Number(b.dataset.index))"
    )
    assert grid == members
    page.wait_for_function(
        "[...document.querySelectorAll('#selection .sel-thumb img')].every(i => i.naturalWidth > 0)"
    )
    # the selection's card and its buttons sit at the top of the side panel, in view
    page.evaluate("ExplorerApp.pin(0); window.scrollTo(0, 0)")
    dl = page.locator("#download-csv").bounding_box()
    assert dl["y"] + dl["height"] <= 720
    page.click("#copy-paths")
    page.wait_for_function("document.getElementById('sel-status').textContent !== ''")
    copied = page.evaluate("ExplorerApp.state.copied")
    assert copied.splitlines() == [report_data.paths[i] for i in members]
    page.fill("#tag-input", "it's mine")
    page.click("#copy-tag-cmd")
    assert page.evaluate("ExplorerApp.state.copied") == (
        "explorer tag --from selection.csv 'it'\\''s mine'"
    )
    page.fill("#tag-input", "")
    page.click("#copy-tag-cmd")
    assert page.evaluate("ExplorerApp.state.copied") == "explorer tag --from selection.csv NAME"
    page.click(f"#selection .sel-thumb[data-index='{members[1]}']")
    page.wait_for_function(f"document.body.dataset.pinned === '{members[1]}'")
    # a hostile tag typed in the page shows as text, in the card and the pinned panel
    from test_report import HOSTILE_TAG

    scripts = "document.querySelectorAll('script, [onerror], img[src=\"x\"]').length"
    before = page.evaluate(scripts)
    page.fill("#tag-input", HOSTILE_TAG)
    page.click("#tag-add")
    page.wait_for_selector("#pagetags:not([hidden])")
    assert f"{HOSTILE_TAG} · {len(members)}" in (page.text_content("#pagetags li") or "")
    assert page.text_content("#pin .page-added .tagchip") == HOSTILE_TAG
    assert page.evaluate(scripts) == before  # no element was made from it
    assert json.loads(page.evaluate("ExplorerApp.pageTagsJson()"))["tags"] == {
        report_data.paths[i]: [HOSTILE_TAG] for i in members
    }
    assert errors == []
    page.context.close()


def test_page_tags_round_trip_through_tag_import(
    browser: Any, families: Path, tmp_path: Path, fake_backbone: Any
) -> None:
    """Tag a cluster and a selection in the page, export, and merge with the CLI."""
    from typer.testing import CliRunner

    from explorer.cli import app
    from explorer.store.tags import load_tags

    index, html = tmp_path / "idx", tmp_path / "photos.html"
    runner = CliRunner()
    args = ["--index", str(index), "--out", str(html), "--backbone", "fake", "--weights", "w"]
    out = runner.invoke(app, ["build", str(families), *args])
    assert out.exit_code == 0, out.output
    page, errors = open_page(browser, html, 1440, 900)
    data = page.evaluate("({paths: ExplorerApp.data.paths, labels: ExplorerApp.data.labels})")
    c0 = [p for p, c in zip(data["paths"], data["labels"], strict=True) if c == 0]
    page.click("button.select-cluster[data-cluster='0']")
    page.fill("#tag-input", "=sunset, 'best'")  # a formula-like, quoted tag
    page.click("#tag-add")
    page.wait_for_selector("#pagetags:not([hidden])")
    assert "=sunset, 'best' · " + str(len(c0)) in page.text_content("#pagetags")
    with page.expect_download() as info:
        page.click("#export-tags-json")
    exported = tmp_path / "explorer-tags.json"
    assert info.value.suggested_filename == exported.name
    info.value.save_as(exported)
    with page.expect_download() as info:
        page.click("#export-tags-csv")
    exported_csv = tmp_path / "explorer-tags.csv"
    info.value.save_as(exported_csv)
    with page.expect_download() as info:
        page.click("#download-csv")
    selection = tmp_path / "selection.csv"
    info.value.save_as(selection)
    # kept in the browser: a reload shows them again
    page.reload()
    page.wait_for_function("document.body.dataset.ready === '1'")
    assert page.locator("#pagetags").is_visible()
    assert errors == []
    page.context.close()

    assert json.loads(exported.read_text(encoding="utf-8"))["tags"] == {
        p: ["=sunset, 'best'"] for p in sorted(c0)
    }
    out = runner.invoke(app, ["tag", "--import", str(exported), "--index", str(index)])
    assert out.exit_code == 0, out.output
    assert f"{len(c0)} new tags on {len(c0)} images" in out.output
    assert load_tags(index) == {p: ["=sunset, 'best'"] for p in c0}
    # the CSV export says the same (its formula guard undone), so merging it adds nothing
    out = runner.invoke(app, ["tag", "--import", str(exported_csv), "--index", str(index)])
    assert out.exit_code == 0 and "0 new tags" in out.output, out.output
    # the selection CSV tags the same images with another name
    out = runner.invoke(app, ["tag", "--from", str(selection), "keep", "--index", str(index)])
    assert out.exit_code == 0, out.output
    assert load_tags(index) == {p: sorted(["=sunset, 'best'", "keep"]) for p in c0}


def test_open_original_link_is_inert_for_hostile_names(
    browser: Any, report_data: ReportData, tmp_path: Path
) -> None:
    from dataclasses import replace
    from urllib.parse import unquote

    from test_report import HOSTILE

    root = tmp_path / "photos"
    paths = list(report_data.paths)
    paths[1] = "javascript:alert(document.domain)//x.jpg"
    paths[2] = 'a b/#?%2e%2e/..\\100% "q".jpg'
    paths[5] = "red/" + "holiday_photo_" * 5 + "03-crop.jpg"  # copies differ at the end
    sizes = [2_345_678 if i == 5 else 900 + i for i in range(len(paths))]
    data = replace(report_data, root=str(root), paths=paths, link_originals=True, file_sizes=sizes)
    html = write_report(data, tmp_path / "out" / "page.html")
    page, errors = open_page(browser, html, 1440, 900)
    for i, want in ((0, "red/" + HOSTILE), (1, paths[1]), (2, paths[2])):
        page.evaluate(f"ExplorerApp.pin({i})")
        link = page.locator("#pin a.open-original")
        href = link.get_attribute("href") or ""
        assert href.startswith("../photos/"), href
        resolved = page.evaluate(
            "() => new URL(document.querySelector('#pin a.open-original').href).href"
        )
        assert resolved.startswith("file://")
        assert unquote(resolved.removeprefix("file://")) == f"{root}/{want}"
        assert not any(c in href for c in "<>\"' ")  # every segment percent-encoded
        assert "javascript:" not in href
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0

    # a long name is shortened in the middle, keeping its end; in full as the title
    page.evaluate("ExplorerApp.pin(5)")
    shown = page.text_content("#pin .pin-name") or ""
    full = paths[5].rsplit("/", 1)[1]
    assert len(shown) <= 64 and "…" in shown and shown.endswith("_03-crop.jpg")
    assert shown.startswith("holiday_photo_")
    assert page.get_attribute("#pin .pin-name", "title") == full
    assert (page.text_content("#pin .pin-capture") or "").endswith("2.3\u00a0MB")  # file size
    assert errors == []
    page.context.close()


def test_search_lists_its_matches_and_selects_them(
    browser: Any, report_path: Path, report_data: ReportData
) -> None:
    page, errors = open_page(browser, report_path, 1280, 720)
    page.fill("#search", "red/")
    want = [i for i, p in enumerate(report_data.paths) if "red/" in p.lower()]
    page.wait_for_function(
        f"document.querySelectorAll('#matches .sel-thumb').length === {len(want)}"
    )
    shown = page.eval_on_selector_all(
        "#matches .sel-thumb", "bs => bs.map(b => Number(b.dataset.index))"
    )
    assert shown == want
    assert page.locator("#matches").bounding_box()["y"] < 720  # in view beside the map
    page.click(f"#matches .sel-thumb[data-index='{want[2]}']")
    page.wait_for_function(f"document.body.dataset.pinned === '{want[2]}'")
    page.click("#select-matches")
    page.wait_for_function(f"document.body.dataset.selected === '{len(want)}'")
    assert page.evaluate("ExplorerApp.state.selected") == want
    page.fill("#search", "")
    page.wait_for_selector("#matches", state="hidden")
    assert errors == []
    page.context.close()


def test_cluster_cards_say_cluster_n_first_and_the_guess_second(
    browser: Any, report_data: ReportData, tmp_path: Path
) -> None:
    from dataclasses import replace

    from test_report import HOSTILE_CLUSTER

    k = len(report_data.representatives)
    guesses = [[(HOSTILE_CLUSTER, 0.314), ("tabby", 0.2)]] + [[] for _ in range(k - 1)]
    html = write_report(replace(report_data, cluster_guesses=guesses), tmp_path / "g.html")
    page, errors = open_page(browser, html, 1440, 900)
    titles = page.eval_on_selector_all(
        "#gallery-grid .cluster h3", "hs => hs.map(h => h.textContent)"
    )
    assert titles == [f"Cluster {c}" for c in range(k)]
    sizes = page.eval_on_selector_all(
        "#gallery-grid .cluster-title .muted", "ss => ss.map(s => s.textContent)"
    )
    counts = [int((report_data.labels == c).sum()) for c in range(k)]
    assert sizes == [f"{n} images" for n in counts]
    guess = page.text_content("#gallery-grid .cluster >> nth=0 >> .guess")
    assert guess == f"ImageNet guess: {HOSTILE_CLUSTER}\u00a031\u00a0% · tabby\u00a020\u00a0%"
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0
    assert errors == []
    page.context.close()


def test_pinned_panel_back_forward_and_no_upscaling(browser: Any, report_path: Path) -> None:
    page, errors = open_page(browser, report_path, 1440, 900)
    for i in (3, 7, 11):
        page.evaluate(f"ExplorerApp.pin({i})")
    assert page.is_disabled("#pin-forward") and not page.is_disabled("#pin-back")
    page.click("#pin-back")
    page.wait_for_function("document.body.dataset.pinned === '7'")
    page.click("#pin-back")
    page.wait_for_function("document.body.dataset.pinned === '3'")
    assert page.is_disabled("#pin-back")
    page.click("#pin-forward")
    page.wait_for_function("document.body.dataset.pinned === '7'")
    page.wait_for_function("document.querySelector('#pin .pin-img').naturalWidth > 0")
    img = page.evaluate(
        """() => { const i = document.querySelector('#pin .pin-img');
          return [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]; }"""
    )
    assert img[2] <= img[0] and img[3] <= img[1]  # shown at most at its own size
    assert errors == []
    page.context.close()


def test_pinned_duplicate_group_links_to_its_card_on_a_later_page(
    browser: Any, report_data: ReportData, tmp_path: Path
) -> None:
    from dataclasses import replace

    from explorer.analysis.duplicates import DuplicateGroup

    groups = [DuplicateGroup([2 * g, 2 * g + 1], [(2 * g, 2 * g + 1, 0.9)]) for g in range(14)]
    data = replace(
        report_data,
        duplicate_groups=groups,
        duplicate_keepers=[g.members[0] for g in groups],
        duplicate_reasons=None,
    )
    html = write_report(data, tmp_path / "dups.html")
    page, errors = open_page(browser, html, 1280, 720)
    assert page.locator("#dup-list .dup").count() == 12  # the first page only
    page.evaluate("ExplorerApp.pin(27)")  # in group 14, on the second page
    page.click("#pin button.dup-link")
    page.wait_for_selector("#dup-list .dup[data-group='13']")
    page.wait_for_timeout(100)
    box = page.locator("#dup-list .dup[data-group='13']").bounding_box()
    assert 0 <= box["y"] < 720
    assert page.text_content("#dup-list .dup[data-group='13'] h3") == "Group 14"
    assert errors == []
