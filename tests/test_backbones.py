"""The real VGG16 path: weights in Keras' downloaded layout, fc2 features, clear failures.

The ImageNet weights cannot be downloaded here, so these tests write seeded
random weights in exactly the HDF5 layout Keras downloads and load them back
through ``VGG16(weights=path)``, as an air-gapped user would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from explorer import fs
from explorer.cli import app
from explorer.errors import WeightsUnavailableError
from explorer.features import weights
from explorer.features.base import top_classes
from explorer.features.pixels import PixelsBackbone
from explorer.features.registry import load_backbone
from explorer.features.weights import resolve_weights
from explorer.inputs.decode import load_image
from explorer.store.index import Index

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
runner = CliRunner()


@pytest.fixture(scope="session")
def vgg_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded random VGG16 weights saved as Keras' legacy HDF5 weights file."""
    import h5py
    import keras
    from keras.applications import VGG16
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(7)
    model = VGG16(weights=None, include_top=True)
    path = tmp_path_factory.mktemp("weights") / weights.VGG16_WEIGHTS_FILE
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, model)
    return path


def test_resolve_weights_needs_no_tensorflow(tmp_path: Path) -> None:
    ref = resolve_weights("random", seed=3)
    assert ref.sha256 == "random-seed-3"
    with pytest.raises(WeightsUnavailableError, match="--weights PATH"):
        resolve_weights(str(tmp_path / "missing.h5"))


def test_pixels_backbone_and_top_classes() -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (3, 224, 224, 3), dtype=np.uint8)
    emb = PixelsBackbone().embed(pixels)
    assert emb.features.shape == (3, 768) and emb.probabilities is None
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]], dtype=np.float32)
    ids, p = top_classes(probs, k=2)
    assert ids.tolist() == [[1, 2], [0, 2]] and p.dtype == np.float16


@pytest.mark.slow
def test_vgg16_fc2_from_downloaded_layout(vgg_weights: Path) -> None:
    import keras
    from keras.applications import VGG16, vgg16

    backbone = load_backbone("vgg16", str(vgg_weights))
    assert backbone.info.name == "vgg16" and backbone.info.layer == "fc2"
    assert backbone.info.dim == 4096
    assert backbone.info.weights_sha256 == fs.file_sha256(vgg_weights)
    images = [load_image(p) for p in sorted(SAMPLE.glob("photos-*"))[:2]]
    pixels = np.stack([im.pixels for im in images])  # type: ignore[union-attr]
    emb = backbone.embed(pixels)
    assert emb.features.shape == (2, 4096) and emb.probabilities is not None
    assert np.allclose(emb.probabilities.sum(axis=1), 1, atol=1e-3)
    # the same numbers as Keras' own model read at fc2
    reference = VGG16(weights=str(vgg_weights))
    fc2 = keras.Model(reference.input, reference.get_layer("fc2").output)
    expected = fc2.predict_on_batch(vgg16.preprocess_input(pixels.astype(np.float32)))
    assert np.allclose(emb.features, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_cli_build_and_query_with_local_weights(vgg_weights: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in [
        "photos-cat-01.jpg",
        "photos-cat-01-lowq.jpg",
        "photos-coffee-01.jpg",
        "animals-dog-01.png",
    ]:
        shutil.copy(SAMPLE / name, folder / name)
    idx = str(tmp_path / "idx")
    result = runner.invoke(
        app, ["build", str(folder), "--index", idx, "--weights", str(vgg_weights), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    index = Index(Path(idx))
    assert index.backbone.weights == str(vgg_weights.resolve())
    assert index.features.shape == (4, 4096)
    assert index.classes() is not None
    # a new image: the model is loaded with the index's own weights
    query = SAMPLE / "photos-coffee-01-small.jpg"
    result = runner.invoke(app, ["similar", str(query), "--index", idx, "--json"])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["rank"] for r in line["results"]] == [1, 2, 3, 4], line
    # other weights are refused with a clear message
    result = runner.invoke(app, ["similar", str(query), "--index", idx, "--weights", "random"])
    assert result.exit_code == 1 and "different weights" in result.stderr


@pytest.mark.slow
def test_imagenet_unavailable_stops_with_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(*args: object, **kwargs: object) -> str:
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(SAMPLE / "photos-cat-01.jpg", folder)
    result = runner.invoke(app, ["build", str(folder), "--index", str(tmp_path / "i"), "-q"])
    assert result.exit_code == 1
    message = result.stderr
    assert "could not download the VGG16 ImageNet weights" in message
    assert "--weights PATH" in message and "EXPLORER_WEIGHTS" in message
    assert weights.VGG16_WEIGHTS_URL in message.replace("\n", "")
    assert not (tmp_path / "i" / "manifest.json").exists()  # no silent random weights
