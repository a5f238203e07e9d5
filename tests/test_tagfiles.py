"""Reading back the files the report page writes: its tag export and selection CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from explorer.cli import app
from explorer.errors import UsageError
from explorer.store.tagfiles import read_selection, read_tag_export, unguard


def test_unguard_undoes_only_the_formula_guard() -> None:
    assert unguard("'=SUM(A1)") == "=SUM(A1)"
    assert unguard("'-3.jpg") == "-3.jpg"
    assert unguard("''quoted'.jpg") == "'quoted'.jpg"  # the page doubles a leading '
    assert unguard("'plain") == "'plain"  # never guarded: kept
    assert unguard("a.jpg") == "a.jpg" and unguard("'") == "'"


def test_selection_paths_in_file_order(tmp_path: Path) -> None:
    f = tmp_path / "selection.csv"
    f.write_text(
        "index,path,cluster,cluster_name,x,y,tags\r\n3,b/x.jpg,0,c,0,0,\r\n"
        '1,"a/y, z.jpg",0,c,0,0,\r\n7,\'=evil.jpg,1,c,0,0,t\r\n3,b/x.jpg,0,c,0,0,\r\n',
        encoding="utf-8",
    )
    assert read_selection(f) == ["b/x.jpg", "a/y, z.jpg", "=evil.jpg"]


def test_tag_export_json_and_csv_agree(tmp_path: Path) -> None:
    j = tmp_path / "t.json"
    j.write_text(
        json.dumps({"format": "explorer-tags", "version": 1, "tags": {"a.jpg": ["x", "y"]}})
    )
    c = tmp_path / "t.csv"
    c.write_text("path,tag\r\na.jpg,x\r\na.jpg,y\r\n", encoding="utf-8")
    assert read_tag_export(j) == read_tag_export(c) == {"a.jpg": ["x", "y"]}


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "other", "version": 1, "tags": {}}',
        '{"format": "explorer-tags", "version": 1, "tags": {"a": "x"}}',
        '{"format": "explorer-tags", "version": 1, "tags": {"a": [1]}}',
        "index,name\r\n1,a\r\n",
        "{not json",
    ],
)
def test_foreign_files_are_refused(tmp_path: Path, text: str) -> None:
    f = tmp_path / "f"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError):
        read_tag_export(f)


def test_tag_import_and_from_on_the_cli(
    families: Path, tmp_path: Path, fake_backbone: object
) -> None:
    from explorer.store.tags import load_tags

    runner = CliRunner()
    index = str(tmp_path / "idx")
    out = runner.invoke(
        app, ["build", str(families), "--index", index, "--backbone", "fake", "--weights", "w",
              "--no-report"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    f = tmp_path / "tags.json"
    tags = {"red-0.png": ["warm"], "gone/old.png": ["x"], "sub/blue-3.png": ["cool", "warm"]}
    f.write_text(json.dumps({"format": "explorer-tags", "version": 1, "tags": tags}))
    out = runner.invoke(app, ["tag", "--import", str(f), "--index", index])
    assert out.exit_code == 0, out.output
    assert "3 new tags on 2 images" in out.output
    assert "skipped 1 path not in the index" in out.output
    assert load_tags(Path(index)) == {"red-0.png": ["warm"], "sub/blue-3.png": ["cool", "warm"]}
    # a bad tag anywhere writes nothing
    f.write_text(
        json.dumps({"format": "explorer-tags", "version": 1, "tags": {"red-1.png": ["a\nb"]}})
    )
    out = runner.invoke(app, ["tag", "--import", str(f), "--index", index])
    assert out.exit_code != 0 and "red-1.png" not in load_tags(Path(index))
    sel = tmp_path / "selection.csv"
    sel.write_text("index,path\r\n0,red-1.png\r\n1,red-2.png\r\n", encoding="utf-8")
    out = runner.invoke(app, ["tag", "--from", str(sel), "reds", "--index", index])
    assert out.exit_code == 0 and "added to 2 of 2 images" in out.output, out.output
    assert load_tags(Path(index))["red-2.png"] == ["reds"]
    # --from needs exactly one tag; --import takes nothing else
    assert runner.invoke(app, ["tag", "--from", str(sel), "--index", index]).exit_code == 2
    out = runner.invoke(app, ["tag", "--import", str(f), "extra", "--index", index])
    assert out.exit_code == 2
