"""The command line, through CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main
from PIL import Image
from typer.testing import CliRunner

from explorer.cli import app
from tests.helpers import Loads, build_fake_index, cli

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()


def _readme_sections() -> list[str]:
    """The README cut at its ``##`` and ``###`` headings."""
    return re.split(r"\n(?=#{2,3} )", README.read_text())


def _mentions(text: str, option: str) -> bool:
    return re.search(re.escape(option) + r"(?![\w-])", text) is not None


def test_every_command_and_option_of_the_live_app_is_documented() -> None:
    """Read from the app itself: a new command or option without docs fails here."""
    code, out, _ = cli("--help")
    assert code == 0 and "explorer build" in out
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    commands = group.commands
    assert {"build", "add", "similar", "info", "report", "duplicates"} <= set(commands)
    sections = _readme_sections()
    common = next(s for s in sections if s.startswith("## Commands"))
    for name, command in commands.items():
        code, out, _ = cli(name, "--help")
        assert code == 0 and "Example" in out, name
        assert command.help, name
        for argument in (p for p in command.params if isinstance(p, typer.core.TyperArgument)):
            assert argument.help, f"explorer {name} {argument.name} has no help text"
        # the README sections that speak of this command ('explorer add', `add`) document
        # each of its options; those every command takes (--index) once, under "## Commands"
        assert any(f"explorer {name}" in s for s in sections), f"README lacks 'explorer {name}'"
        docs = "\n".join(s for s in sections if f"explorer {name}" in s or f"`{name}`" in s)
        docs += common
        options = [p for p in command.params if isinstance(p, typer.core.TyperOption)]
        assert any(o.opts == ["--index"] for o in options), name
        for option in options:
            names = option.opts + option.secondary_opts
            assert option.help, f"explorer {name} {names[0]} has no help text"
            assert all(n in out for n in names), f"--help of {name} hides {names}"
            # a flag pair (--report/--no-report) is documented by either side
            assert any(_mentions(docs, n) for n in names if n.startswith("--")), (
                f"README does not document explorer {name} {'/'.join(names)}"
            )


def test_build_similar_info_add_json(families: Path, tmp_path: Path, fake_backbone: Loads) -> None:
    idx = str(tmp_path / "idx")
    code, out, err = cli(
        "build", str(families), "--index", idx, "--backbone", "fake", "--weights", "w", "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["indexed"] == 12 and summary["skipped"] == {}
    code, out, _ = cli(
        "similar",
        str(families / "red-0.png"),
        str(families / "blue-1.png"),
        "--index",
        idx,
        "--json",
        "-k",
        "3",
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        family = Path(line["query"]).name.split("-")[0]
        assert [r["rank"] for r in line["results"]] == [1, 2, 3]
        assert all(Path(r["path"]).name.startswith(family) for r in line["results"])
        assert all(Path(r["path"]).exists() for r in line["results"])  # openable from cwd
    code, out, _ = cli("similar", str(families / "red-0.png"), "--index", idx)
    assert code == 0 and "rank" in out and "red-" in out
    grid = tmp_path / "grid.png"
    code, _, _ = cli("similar", str(families / "red-0.png"), "--index", idx, "--save", str(grid))
    assert code == 0 and Image.open(grid).size[0] > 5 * 200
    code, out, _ = cli("info", "--index", idx, "--json")
    info = json.loads(out)
    assert info["images"] == 12 and info["backbone"]["name"] == "fake"
    new = tmp_path / "new.png"
    Image.new("RGB", (50, 50), (200, 30, 30)).save(new)
    code, out, _ = cli("add", str(new), "--index", idx, "--json")
    assert code == 0 and json.loads(out)["images"] == 13


def test_errors_are_one_clear_line(tmp_path: Path, fake_backbone: Loads) -> None:
    code, _, err = cli("info", "--index", str(tmp_path / "none"))
    assert code == 1 and "no index" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.jpg").write_bytes(b"")
    code, _, err = cli("build", str(empty), "--index", str(tmp_path / "i"), "--backbone", "fake")
    assert code == 1 and "no readable image" in err and "empty_file" in err
    code, _, err = cli("build", str(tmp_path / "missing"), "--index", str(tmp_path / "i"))
    assert code == 2 and "not a folder" in err
    code, _, err = cli("build", str(empty), "--backbone", "nope", "--index", str(tmp_path / "i"))
    assert code == 2 and "unknown backbone" in err


def test_progress_bars_on_stderr_and_quiet_hides_them(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    args = ["--backbone", "fake", "--weights", "w", "--no-report"]
    code, out, err = cli("build", str(families), "--index", str(tmp_path / "a"), *args)
    assert code == 0, err
    assert "extracting" in err and "12/12" in err and "eta" in err
    assert "extracting" not in out and "Indexed 12" in out  # the summary stays on stdout
    code, out, err = cli("build", str(families), "--index", str(tmp_path / "b"), *args, "-q")
    assert code == 0 and "Indexed 12" in out
    assert "extracting" not in err and "12/12" not in err


def test_info_verify_reports_damage_and_how_to_rebuild(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = tmp_path / "idx"
    build_fake_index(families, idx)
    code, out, _ = cli("info", "--verify", "--index", str(idx))
    assert code == 0 and "verify:    ok" in out
    thumbs = next(idx.glob("thumbs-*"))
    raw = bytearray(thumbs.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    thumbs.write_bytes(bytes(raw))
    code, out, err = cli("info", "--verify", "--index", str(idx))
    assert code == 1 and "PROBLEMS" in out and "Traceback" not in out + err
    assert f"{thumbs.name}: checksum mismatch" in out and "--fresh" in out
    code, out, _ = cli("info", "--verify", "--json", "--index", str(idx))
    problems = json.loads(out)["problems"]
    assert code == 1 and problems == [f"{thumbs.name}: checksum mismatch (thumbs)"]


def test_weights_from_environment(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPLORER_WEIGHTS", "env-weights.h5")
    idx = str(tmp_path / "idx")
    code, _, err = cli("build", str(families), "--index", idx, "--backbone", "fake", "-q")
    assert code == 0, err
    code, out, _ = cli("info", "--index", idx, "--json")
    backbone = json.loads(out)["backbone"]
    assert backbone["weights"] == "env-weights.h5"
    assert backbone["weights_sha256"] == "sha-env-weights.h5"


def test_index_location_from_environment(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPLORER_INDEX", str(tmp_path / "env-idx"))
    code, _, err = cli("build", str(families), "--backbone", "fake", "-q")
    assert code == 0, err
    assert (tmp_path / "env-idx" / "manifest.json").exists()


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_subprocess_default_index_and_no_tensorflow_for_lookups(
    families: Path, tmp_path: Path
) -> None:
    """Real process: default ./.explorer, and indexed lookups never import TensorFlow."""
    work = tmp_path / "work"
    work.mkdir()
    proc = _run("build", str(families), "--backbone", "pixels", "--quiet", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / ".explorer" / "manifest.json").exists()
    assert "Indexed 12" in proc.stdout
    # the report is written by default, under reports/ named after the folder
    assert "report: reports/photos.html" in proc.stdout
    report = (work / "reports" / "photos.html").read_text()
    assert "red-0.png" in report and "<script" in report
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from explorer.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0\n"
        f"r = CliRunner().invoke(app, ['similar', {str(families / 'red-0.png')!r}, '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(*(m in sys.modules for m in ('tensorflow', 'keras', 'umap', 'ray')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=work, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False", "False"]


def test_components_note_names_what_was_asked_for(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    """Issue 14: '--components 10' once printed 'fewer than 300: fewer images'."""
    fake = ["--backbone", "fake", "--weights", "w", "--no-report", "-q"]
    code, out, err = cli(
        "build", str(families), "--index", str(tmp_path / "a"), *fake, "--components", "10"
    )
    assert code == 0, err
    assert "PCA components: 10\n" in out and "fewer" not in out and "300" not in out
    code, out, _ = cli(
        "build", str(families), "--index", str(tmp_path / "b"), *fake, "--components", "20"
    )
    assert code == 0 and "PCA components: 12 (fewer than the 20 asked for: only 12 images)" in out
    same = tmp_path / "same"
    same.mkdir()
    for i in range(4):  # identical pictures: their features vary along no direction
        Image.new("RGB", (40, 40), (90, 90, 90)).save(same / f"grey-{i}.png")
    code, out, _ = cli("build", str(same), "--index", str(tmp_path / "c"), *fake)
    assert code == 0 and "PCA components: 1 (fewer than the 300 asked for: the features " in out
    assert "only 4 images" not in out


def test_a_bug_in_the_core_is_no_usage_error(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only domain errors become one line and exit 2; a ValueError from a library is a bug."""
    import explorer.jobs.similar

    idx = str(tmp_path / "idx")
    code, _, err = cli("build", str(families), "--index", idx, "--backbone", "fake", "-q")
    assert code == 0, err
    # a user mistake the core finds (not the option parser) stays one clear line, exit 2
    code, _, err = cli("report", "--index", idx, "--clusters", "50", "-q")
    assert code == 2 and "clusters must be between 1 and the number of images (12)" in err
    assert "Traceback" not in err

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(explorer.jobs.similar, "similar", broken)
    result = runner.invoke(app, ["similar", str(families / "red-0.png"), "--index", idx])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)
    assert "error: operands" not in result.stderr  # not dressed up as a user's mistake


def test_shared_cli_modules_import_no_command_module() -> None:
    """``_app`` and ``_console`` are below the commands: no cycle, each command module alone."""
    import ast

    import explorer.cli

    package = Path(explorer.cli.__file__).parent
    commands = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert {"build", "report", "similar", "info", "duplicates", "catalog"} <= commands
    for shared in ("_app", "_console"):
        tree = ast.parse((package / f"{shared}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.split(".")[:2] == ["explorer", "cli"]} - {
            "explorer.cli._console"
        }, shared
    for path in package.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path.name
