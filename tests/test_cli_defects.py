"""The CLI defects of issue 15, one test (or more) per defect, each reproducing it.

Every test here failed on the code before the fix (see the issue for the
commands that showed each defect) and passes now.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from explorer.errors import IncompatibleIndexError, WeightsUnavailableError
from explorer.features import vgg16 as backbones
from explorer.features.base import BackboneInfo
from explorer.features.weights import VGG16_WEIGHTS_URL, check_weights, resolve_weights
from explorer.store.index import Index
from explorer.store.tags import load_tags
from tests.helpers import Loads, cli

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
FAKE = ["--backbone", "fake", "--weights", "w"]


def app_() -> Any:
    from explorer.cli import app

    return app


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder, neither the photos nor an index (``tmp_path / "work"``)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _built(families: Path, tmp_path: Path, *extra: str, name: str = "idx") -> Path:
    idx = tmp_path / name
    code, _, err = cli("build", str(families), "--index", str(idx), "-q", *extra)
    assert code == 0, err
    return idx


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


# 1 ----------------------------------------------------------------------------


def test_1_download_error_is_whole_and_on_one_line(
    families: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = "[Errno -2] Name or service not known " + "(while resolving the host) " * 8

    def get_file(*args: object, **kwargs: object) -> str:
        raise OSError(reason.strip())

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(
        backbones, "import_keras", lambda: SimpleNamespace(utils=SimpleNamespace(get_file=get_file))
    )
    with pytest.raises(WeightsUnavailableError) as caught:
        backbones._download_imagenet()
    message = str(caught.value)
    assert " ".join(reason.split()) in message and VGG16_WEIGHTS_URL in message  # not cut at 160
    # through the CLI, off a terminal: one line, the URL whole, no bar left after it
    code, _, err = cli("build", str(families), "--index", str(tmp_path / "i"))
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    error = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    assert VGG16_WEIGHTS_URL in lines[error] and "service not known" in lines[error]
    assert not any("extracting" in line for line in lines[error:])
    assert not any("0/12" in line for line in lines)  # no stale bar of a run that never ran


# 2 ----------------------------------------------------------------------------


def test_2_help_shows_the_extras_and_defaults_as_written() -> None:
    code, out, _ = cli("build", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert 'pip install "explorer[lite]"' in flat and 'pip install "explorer[ray]"' in flat
    assert "[default: the index's own, else vgg16]" in flat
    assert not re.search(r" \.( |$)", flat)  # no "[default: ...]" swallowed, leaving " ."
    assert "Usage: explorer build [OPTIONS] FOLDER" in out and "{folder}" not in out
    assert "<bool>" not in out  # a flag takes no value
    for command in ("build", "similar", "report", "duplicates", "export", "tag"):
        code, out, _ = cli(command, "-h")
        assert code == 0 and "Usage:" in out, command


# 3 ----------------------------------------------------------------------------


def test_3_tag_refuses_a_file_as_the_tag(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = _built(families, tmp_path, *FAKE, "--no-report")
    a, b = families / "red-0.png", families / "red-1.png"
    code, out, err = cli("tag", str(a), str(b), "--index", str(idx))
    assert code == 2 and "is the tag" in err and "red-1.png" in err
    assert load_tags(idx) == {}  # nothing tagged with a path
    code, _, err = cli("tag", str(a), "photo.JPG", "--index", str(idx))
    assert code == 2 and "image file name" in err
    code, out, _ = cli("tag", str(a), str(b), "reds", "--index", str(idx))
    assert code == 0 and "added to 2 images" in out


# 5 ----------------------------------------------------------------------------


def test_5_similar_answers_in_the_order_given(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = _built(families, tmp_path, *FAKE, "--no-report")
    given = [families / "red-2.png", families / "blue-0.png", families / "green-1.png"]
    code, out, err = cli("similar", *map(str, given), "--index", str(idx), "--json")
    assert code == 0, err
    assert [Path(json.loads(line)["query"]).name for line in out.splitlines()] == [
        "red-2.png",
        "blue-0.png",
        "green-1.png",
    ]
    grid = tmp_path / "grid.png"
    code, _, _ = cli("similar", *map(str, given), "--index", str(idx), "--save", str(grid))
    assert code == 0
    with Image.open(grid) as im:  # the first row's query tile is red, the second blue
        tile = 100  # inside the first tile of each 242-pixel row
        first, second = im.getpixel((tile, tile)), im.getpixel((tile, 242 + tile))
    assert first[0] > first[2] and second[2] > second[0]


# 6 ----------------------------------------------------------------------------


def test_6_pca_note_says_why_there_are_fewer_components(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    code, out, _ = cli(
        "build", str(families), "--index", str(tmp_path / "a"), *FAKE, "--no-report", "-q",
        "--components", "5",
    )  # fmt: skip
    assert code == 0 and "PCA components: 5\n" in out and "fewer" not in out
    code, out, _ = cli(
        "build", str(families), "--index", str(tmp_path / "b"), *FAKE, "--no-report", "-q"
    )
    assert code == 0 and "(fewer than the 300 asked for: only 12 images)" in out


# 7 ----------------------------------------------------------------------------


def test_7_a_mistyped_path_is_no_such_file(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = _built(families, tmp_path, *FAKE, "--no-report")
    missing = str(tmp_path / "missing.jpg")
    code, out, err = cli("similar", str(families / "red-0.png"), missing, "--index", str(idx))
    assert code != 0 and f"no such file: {missing}" in err and "vanished" not in out + err
    code, out, err = cli("add", missing, "--index", str(idx))
    assert code != 0 and f"no such file: {missing}" in err and "vanished" not in out + err
    assert len(Index(idx)) == 12


# 8 ----------------------------------------------------------------------------


def test_8_failed_commands_leave_nothing_behind(
    tmp_path: Path, fake_backbone: Loads, work: Path
) -> None:
    image = tmp_path / "one.png"
    Image.new("RGB", (32, 32), (9, 9, 9)).save(image)
    code, _, err = cli("add", str(image))
    assert code == 1 and "no index" in err
    assert list(work.iterdir()) == []  # no ./.explorer/lock
    empty, texts = tmp_path / "empty", tmp_path / "texts"
    empty.mkdir()
    texts.mkdir()
    (texts / "notes.txt").write_text("not an image")
    (texts / "bad.jpg").write_bytes(b"")
    for folder in (empty, texts):
        code, _, err = cli("build", str(folder), *FAKE, "--index", str(work / ".explorer"))
        assert code == 1 and "no readable image" in err
        assert list(work.iterdir()) == []  # no index folder with a lock and a journal


# 9 ----------------------------------------------------------------------------


def test_9_parameters_are_checked_before_any_work(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = tmp_path / "idx"
    code, _, err = cli("build", str(families), *FAKE, "--index", str(idx), "--clusters", "1000")
    assert code == 2 and "--clusters must be between 1 and the number of images (12)" in err
    assert fake_backbone.images == 0 and not idx.exists()  # nothing extracted, nothing written
    code, _, err = cli("build", str(families), *FAKE, "--index", str(idx), "--dup-threshold", "0")
    assert code == 2 and "(0, 1]" in err
    assert fake_backbone.images == 0 and not idx.exists()


# 10 ---------------------------------------------------------------------------


def test_10_duplicates_help_and_check_agree(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    code, out, _ = cli("duplicates", "--help")
    assert code == 0 and "0.0<=x<=1.0" not in out and "(0, 1]" in " ".join(out.split())
    idx = _built(families, tmp_path, *FAKE)
    code, _, err = cli("duplicates", "--index", str(idx), "--threshold", "0")
    assert code == 2 and "(0, 1]" in err
    code, _, _ = cli("duplicates", "--index", str(idx), "--threshold", "1")
    assert code == 0


# 11 ---------------------------------------------------------------------------


def test_11_ctrl_c_during_report_says_what_was_interrupted(
    families: Path, tmp_path: Path, fake_backbone: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = _built(families, tmp_path, *FAKE, "--no-report")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("explorer.page.render.write_report", interrupted)
    code, _, err = cli("report", "--index", str(idx), "--out", str(tmp_path / "r.html"))
    assert code == 130 and "report was not written" in err and "checkpointed" not in err


# 12 ---------------------------------------------------------------------------


@pytest.mark.slow
def test_12_a_slow_start_is_not_a_hanging_decode(
    families: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quarantine probe's clock starts at the decode, not at a (loaded) interpreter start."""
    from explorer.store import quarantine

    slow = tmp_path / "slow-start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(3)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(slow), *sys.path]))
    assert quarantine.probe(families / "red-0.png", timeout=1.0) is None
    monkeypatch.setenv("EXPLORER_FAULT", "decode-hang:red-1.png")
    assert quarantine.probe(families / "red-1.png", timeout=1.0) == quarantine.DECODE_TIMEOUT


# 13 ---------------------------------------------------------------------------


def test_13_grid_format_follows_the_extension(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = _built(families, tmp_path, *FAKE, "--no-report")
    query = str(families / "red-0.png")
    for name, fmt in (("grid.jpg", "JPEG"), ("grid.webp", "WEBP"), ("grid.png", "PNG")):
        code, _, err = cli("similar", query, "--index", str(idx), "--save", str(tmp_path / name))
        assert code == 0, err
        with Image.open(tmp_path / name) as im:
            assert im.format == fmt
    code, out, err = cli("similar", query, "--index", str(idx), "--save", str(tmp_path / "g.txt"))
    assert code == 2 and ".png" in err and out == "" and not (tmp_path / "g.txt").exists()


# 14 ---------------------------------------------------------------------------


def test_14_mismatched_weights_are_refused_up_front(
    families: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = _built(families, tmp_path, "--backbone", "pixels", "--no-report")
    code, _, err = cli(
        "similar", str(families / "red-0.png"), "--index", str(idx), "--weights", "imagenet"
    )
    assert code == 1 and "--weights does not apply" in err
    # set once in the environment (for VGG16), it does not break a Lite0 or pixels index
    monkeypatch.setenv("EXPLORER_WEIGHTS", str(tmp_path / "vgg16.h5"))
    code, _, err = cli("similar", str(families / "red-0.png"), "--index", str(idx))
    assert code == 0, err
    monkeypatch.delenv("EXPLORER_WEIGHTS")
    # ImageNet weights not downloaded yet, index made with random weights: refused, no download
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    random_vgg = BackboneInfo("vgg16", "fc2", 4096, "random", "random-seed-0")
    with pytest.raises(IncompatibleIndexError, match="not imagenet weights"):
        check_weights(resolve_weights("imagenet"), random_vgg)
    check_weights(resolve_weights("random"), random_vgg)  # the same weights pass


# 15 ---------------------------------------------------------------------------


def test_15_no_report_with_report_options_is_refused(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = tmp_path / "idx"
    code, _, err = cli(
        "build", str(families), *FAKE, "--index", str(idx), "--no-report", "--clusters", "4",
        "--dup-threshold", "0.8",
    )  # fmt: skip
    assert code == 2 and "--clusters and --dup-threshold apply to the report" in err
    assert fake_backbone.images == 0 and not idx.exists()


# 16 ---------------------------------------------------------------------------


def test_16_suggested_rebuild_works_as_written(
    families: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = _built(families, tmp_path, "--backbone", "pixels", "--no-report")
    thumbs = next(idx.glob("thumbs-*"))
    thumbs.write_bytes(b"x" * thumbs.stat().st_size)
    code, out, _ = cli("info", "--verify", "--index", str(idx))
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("Rebuild with: "))
    command = shlex.split(line.removeprefix("Rebuild with: "))
    assert command[:2] == ["explorer", "build"] and "--backbone" in command
    code, _, err = cli(*command[1:], "-q")
    assert code == 0, err  # no VGG16 download tried
    assert (
        Index(idx).backbone.name == "pixels"
        and cli("info", "--verify", "--index", str(idx))[0] == 0
    )


def test_16_weights_advice_only_names_what_the_command_takes(
    families: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def get_file(*args: object, **kwargs: object) -> str:
        raise OSError("no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(
        backbones, "import_keras", lambda: SimpleNamespace(utils=SimpleNamespace(get_file=get_file))
    )
    # what 'similar' and 'add' say (they take neither --backbone nor other weights)
    with pytest.raises(WeightsUnavailableError) as caught:
        backbones._download_imagenet()
    assert "--backbone" not in str(caught.value) and "--weights random" not in str(caught.value)
    # a new build may use another backbone: it says so, and that command works
    code, _, err = cli("build", str(families), "--index", str(tmp_path / "i"))
    assert code == 1 and "--backbone efficientnet-lite0" in err and "--weights random" in err


# 17 ---------------------------------------------------------------------------

SLOW_BACKBONE = """
import sys, time
from pathlib import Path
from explorer.features import registry as backbones
from explorer.features.base import BackboneInfo, BackboneSpec
from explorer.features.pixels import PixelsBackbone

marks = Path(sys.argv[1])

class Slow(PixelsBackbone):
    batch_size = 2

    def __init__(self):
        self.info = BackboneInfo("slow", "16x16", 768, "none", "slow-v1")

    def embed(self, pixels):
        done = len(list(marks.glob("batch-*")))
        if done >= 2 and not (marks / "fast").exists():
            # like a TensorFlow call: holds Ctrl-C off until it returns, a minute later
            interrupted, end = False, time.monotonic() + 60
            while time.monotonic() < end:
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    interrupted = True
            if interrupted:
                raise KeyboardInterrupt
        out = super().embed(pixels)
        (marks / f"batch-{done}").touch()
        return out

backbones.BACKBONES["slow"] = BackboneSpec(
    "slow", "16x16", 768, "test", False, lambda ref, seed: Slow()
)
from explorer.cli import app
app(sys.argv[2:], prog_name="explorer")
"""


@pytest.mark.slow
def test_17_ctrl_c_stops_at_once_and_says_what_was_saved(families: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "slow.py"
    script.write_text(SLOW_BACKBONE)
    idx = str(tmp_path / "idx")
    args = [sys.executable, str(script), str(marks), "build", str(families), "--index", idx]
    args += ["--backbone", "slow", "--no-report", "-q"]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    deadline = time.monotonic() + 120
    while not (marks / "batch-1").exists():  # two batches (4 images) embedded
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # the third batch is in the model now
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=60)
    stopped = time.monotonic() - sent
    # the batch in flight holds Ctrl-C off for 60 s; it is dropped, not waited for
    assert stopped < 30, stopped
    assert proc.returncode == 130 and "4 images extracted in this run are saved" in err, err
    (marks / "fast").touch()
    rerun = subprocess.run(
        [*args[:-1], "--json"], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["resumed"] == 4 and summary["images"] == 12


# 18 ---------------------------------------------------------------------------


def test_18_a_closed_pipe_is_not_an_error(families: Path, tmp_path: Path) -> None:
    idx = _built(families, tmp_path, "--backbone", "pixels", "--no-report")
    proc = subprocess.Popen(
        [sys.executable, "-m", "explorer", "similar", str(families), "--index", str(idx)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like 'head -1' gone before the output comes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "rror" not in err


def test_18_errors_come_after_the_bars_on_their_own_line(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    fake_backbone.fail_after = 0  # the first model call: Ctrl-C

    code, _, err = cli("build", str(families), *FAKE, "--index", str(tmp_path / "i"))
    assert code == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("error: interrupted: 0 images")  # the last thing said
    assert not any("extracting" in line for line in lines)  # no frozen unfinished bar


# friction ----------------------------------------------------------------------


def test_build_remembers_the_index_backbone(families: Path, tmp_path: Path) -> None:
    idx = _built(families, tmp_path, "--backbone", "pixels", "--no-report")
    code, out, err = cli("build", str(families), "--index", str(idx), "--no-report", "--json")
    assert code == 0, err
    assert json.loads(out)["unchanged"] == 12
    code, out, err = cli("build", str(families), "--index", str(idx), "--fresh", "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["indexed"] == 12 and Index(idx).backbone.name == "pixels"
    code, _, err = cli("build", str(families), "--index", str(idx), "--weights", "random")
    assert code == 2 and "does not apply" in err


def test_a_first_build_cut_short_resumes_with_its_backbone(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    """No index yet, only checkpoints: the re-run takes their backbone and weights."""
    idx = str(tmp_path / "idx")
    fake_backbone.fail_after = 8
    args = ["build", str(families), "--index", idx, "--checkpoint-every", "4", "--no-report"]
    code, _, err = cli(*args, *FAKE)
    assert code == 130 and "8 images extracted in this run are saved" in err
    fake_backbone.fail_after = None
    code, out, err = cli(*args, "--json", "-q")  # no --backbone, no --weights
    assert code == 0, err
    summary = json.loads(out)
    assert summary["resumed"] == 8 and summary["indexed"] == 4
    assert Index(Path(idx)).backbone.weights == "w"


def test_report_path_comes_from_the_index_never_the_photo_folder(
    families: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(p.name for p in families.rglob("*"))
    paths = []
    for name in ("a", "b"):
        code, out, err = cli(
            "build", str(families), "--backbone", "pixels", "--index", name, "--json", "-q"
        )
        assert code == 0, err
        paths.append(Path(json.loads(out)["report"]))
    assert paths[0] != paths[1] and all(p.is_file() for p in paths)  # two indexes, two reports
    # 'explorer build .' from inside the photo folder: nothing written beside the photos
    monkeypatch.chdir(families)
    code, out, err = cli("build", ".", "--backbone", "pixels", "--json", "-q")
    assert code == 0, err
    report = Path(json.loads(out)["report"])
    assert report.is_file() and Path(".explorer") in report.parents
    assert sorted(p.name for p in families.rglob("*") if ".explorer" not in p.parts) == before
    code, out, err = cli("build", ".", "--json", "-q")  # the next build indexes no report
    assert code == 0 and json.loads(out)["unchanged"] == 12 and json.loads(out)["indexed"] == 0


def test_summary_reports_extraction_and_total_time(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    code, out, _ = cli("build", str(families), *FAKE, "--index", str(tmp_path / "i"), "-q")
    assert code == 0
    first = out.splitlines()[0]
    assert "Indexed 12 new or changed images (extraction " in first and "; total " in first


def test_grammar_help_version_and_export_json(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    result = runner.invoke(app_(), [])
    assert result.exit_code == 0 and "Usage:" in result.stdout  # bare 'explorer': help, success
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("explorer ")
    idx = _built(families, tmp_path, *FAKE)
    red = str(families / "red-0.png")
    code, out, _ = cli("tag", red, "warm", "--index", str(idx))
    assert code == 0 and out.strip() == "tag 'warm' added to 1 image"
    code, out, _ = cli("tag", red, "warm", "--index", str(idx))
    assert code == 0 and "already had it" in out and "0 images" not in out
    code, out, _ = cli("export", "--json", "--index", str(idx))
    rows = json.loads(out)
    assert code == 0 and all(isinstance(r["tags"], list) for r in rows)
    for column in ("duplicate_group", "keep", "exact"):
        assert {type(r[column]) for r in rows} <= {type(None), int, bool}
    assert next(r for r in rows if r["path"].endswith("red-0.png"))["tags"] == ["warm"]
    code, _, err = cli("export", "--no-csv", "--index", str(idx))
    assert code == 2 and "--json" in err


def test_decompression_bomb_warnings_stay_off_the_terminal(families: Path) -> None:
    """Below Pillow's hard limit an image is indexed in silence; above it, skipped too_large."""
    for limit, indexed, skipped in ((6000, 12, {}), (4000, 0, {"too_large": 12})):
        script = (
            "import sys, PIL.Image\n"
            f"PIL.Image.MAX_IMAGE_PIXELS = {limit}  # the 96x96 images: 9216 pixels\n"
            "from explorer.cli import app\n"
            "app(sys.argv[1:], prog_name='explorer')\n"
        )
        idx = families.parent / f"idx-{limit}"
        args = ["build", str(families), "--index", str(idx), "--backbone", "pixels"]
        proc = subprocess.run(
            [sys.executable, "-c", script, *args, "--no-report", "--json", "-q"],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=300,
        )
        assert "DecompressionBomb" not in proc.stderr and "exceeds limit" not in proc.stderr
        if indexed:
            assert proc.returncode == 0, proc.stderr
            summary = json.loads(proc.stdout)
            assert summary["indexed"] == indexed and summary["skipped"] == skipped
        else:
            assert proc.returncode == 1 and "12 too_large" in proc.stderr


def test_nothing_on_stderr_when_nothing_is_drawn(families: Path, tmp_path: Path) -> None:
    """No bar drawn, no blank line: a lookup piped elsewhere leaves stderr empty."""
    idx = _built(families, tmp_path, "--backbone", "pixels", "--no-report")
    code, out, err = cli("similar", str(families / "red-0.png"), "--index", str(idx))
    assert code == 0 and "rank" in out and err == ""


def test_a_build_that_finds_nothing_new_keeps_pca_and_clusters(
    families: Path, tmp_path: Path, fake_backbone: Loads
) -> None:
    idx = tmp_path / "idx"
    args = ["build", str(families), *FAKE, "--index", str(idx), "-q"]
    code, _, err = cli(*args, "--clusters", "3")
    assert code == 0, err
    before = Index(idx).manifest
    code, again, err = cli(*args)
    assert code == 0, err
    after = Index(idx).manifest
    assert after["generation"] == before["generation"]  # PCA not refitted, nothing rewritten
    assert after["analysis"] == before["analysis"]  # the clusters users tagged stay put
    assert "clusters: 3" in again and "note:" not in again
