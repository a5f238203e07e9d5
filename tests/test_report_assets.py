"""The report's own files (templates, stylesheet, script) and its Jinja environment."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jinja2
import pytest

from explorer.page import assets

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "explorer" / "page"
FRONT_END = sorted(
    p.relative_to(PACKAGE_DIR).as_posix()
    for folder in ("templates", "static")
    for p in (PACKAGE_DIR / folder).rglob("*")
    if p.is_file()
)


def test_the_front_end_is_files_of_the_package() -> None:
    assert "templates/page.html.j2" in FRONT_END
    # every file in static/ is one the page uses, and the other way round
    assert sorted(n for n in FRONT_END if n.startswith("static/")) == sorted(
        f"static/{n}" for n in assets.STATIC_FILES
    )
    assert ("report.css", *assets.SCRIPT_FILES) == assets.STATIC_FILES
    assert assets.SCRIPT_FILES[0] == "core.js" and assets.SCRIPT_FILES[-1] == "main.js"
    assert len(set(assets.SCRIPT_FILES)) == len(assets.SCRIPT_FILES)
    for name in FRONT_END:
        text = (files("explorer.page") / name).read_text(encoding="utf-8")
        assert text.strip(), name
    for name in assets.STATIC_FILES:
        on_disk = (PACKAGE_DIR / "static" / name).read_text(encoding="utf-8")
        assert assets.read_static(name) == on_disk, name


def test_package_data_installs_every_front_end_file() -> None:
    # a wheel holds only what [tool.setuptools.package-data] names
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["explorer.page"]
    missing = [n for n in FRONT_END if not any(fnmatch.fnmatch(n, p) for p in patterns)]
    assert missing == []


def test_the_imported_package_finds_its_files() -> None:
    # from another folder: the files come from wherever explorer is imported from
    code = (
        "from explorer.page import assets\n"
        "env = assets.environment()\n"
        "for t in ('page.html.j2', 'header.html.j2', 'histogram.html.j2'):\n"
        "    print(env.get_template(t).name)\n"
        "print(len(assets.stylesheet()), len(assets.script()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd="/"
    )
    if "No module named 'explorer'" in out.stderr:
        pytest.skip("explorer is not importable from another folder")
    assert out.returncode == 0, out.stderr
    *names, sizes = out.stdout.splitlines()
    assert names == ["page.html.j2", "header.html.j2", "histogram.html.j2"]
    assert all(int(v) > 1000 for v in sizes.split())


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("name", [n for n in FRONT_END if n.endswith(".js")])
def test_scripts_parse(name: str) -> None:
    # the same check as the front-end step of .ci/run
    node = shutil.which("node")
    assert node is not None
    out = subprocess.run(
        [node, "--check", str(PACKAGE_DIR / name)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr


def test_node_check_catches_a_syntax_error(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    bad = tmp_path / "bad.js"
    bad.write_text("(function () { var x = ; })();\n", encoding="utf-8")
    out = subprocess.run([node, "--check", str(bad)], capture_output=True, check=False)
    assert out.returncode != 0


def test_environment_escapes_and_refuses_undefined_names() -> None:
    env = assets.environment()
    header = env.get_template("header.html.j2").render(
        header={
            "title": "<img src=x onerror=alert(1)>",
            "root": "/a & b",
            "stats": [("1", "image")],
            "summary": [('"k"', "<b>v</b>")],
        }
    )
    assert "<img" not in header and "&lt;img src=x onerror=alert(1)&gt;" in header
    assert "/a &amp; b" in header and "&lt;b&gt;v&lt;/b&gt;" in header
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("header.html.j2").render()
    with pytest.raises(jinja2.TemplateNotFound):
        env.get_template("no-such-template.j2")


@pytest.mark.parametrize(("text", "tag"), [("a</script>b", "script"), ("a</STYLE >", "style")])
def test_static_text_that_would_end_its_element_is_refused(text: str, tag: str) -> None:
    with pytest.raises(ValueError, match=f"</{tag}"):
        assets._inline(text, tag)


def test_static_files_are_inlined_whole() -> None:
    assert str(assets.stylesheet()) == assets.read_static("report.css")
    assert str(assets.script()) == "\n".join(assets.read_static(n) for n in assets.SCRIPT_FILES)


@pytest.mark.parametrize("name", assets.SCRIPT_FILES)
def test_every_script_file_is_checked_for_a_closing_tag(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = assets.read_static

    def read(n: str) -> str:
        return real(n) + ("\n// </script>\n" if n == name else "")

    monkeypatch.setattr(assets, "read_static", read)
    assets.script.cache_clear()
    try:
        with pytest.raises(ValueError, match="</script"):
            assets.script()
    finally:
        assets.script.cache_clear()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_script_files_share_one_global() -> None:
    # Run the page's script as inlined, in node with a stand-in window and document:
    # it must add exactly one global, holding every hook figure.py binds and the tests use.
    hooks = [
        *("init", "onMove", "onLeave", "onTap", "onSelect", "onVisibility"),  # figure.py
        *("pin", "unpin", "search", "clientPos", "nearest", "selectionCsv", "colorBy"),
        *("pageTagsJson", "tagCommand", "zoomTo"),
    ]
    runner = (
        "const vm = require('vm');\n"
        "const code = require('fs').readFileSync(0, 'utf8');\n"
        "const data = JSON.stringify({paths: ['a.jpg'], k: 1, alpha: 0.5});\n"
        "const ctx = {document: {getElementById: () => ({textContent: data})}};\n"
        "ctx.window = ctx;\n"
        "vm.createContext(ctx);\n"
        "const before = new Set(Object.getOwnPropertyNames(ctx));\n"
        "vm.runInContext(code, ctx);\n"
        "const added = Object.getOwnPropertyNames(ctx).filter(k => !before.has(k));\n"
        "const app = ctx.ExplorerApp || {};\n"
        "console.log(JSON.stringify({added: added,\n"
        "  kinds: Object.fromEntries(Object.keys(app).map(k => [k, typeof app[k]])),\n"
        "  paths: app.data && app.data.paths}));\n"
    )
    node = shutil.which("node")
    assert node is not None
    out = subprocess.run(
        [node, "-e", runner],
        input=str(assets.script()),
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["added"] == ["ExplorerApp"]
    assert {h: got["kinds"].get(h) for h in hooks} == dict.fromkeys(hooks, "function")
    assert got["kinds"]["state"] == "object" and got["paths"] == ["a.jpg"]


def test_importing_the_report_imports_neither_jinja_nor_bokeh() -> None:
    code = (
        "import sys, explorer.page.render;"
        "print(','.join(m for m in ('jinja2', 'markupsafe', 'bokeh') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
