"""Keeper rule, pixel check, sharpness, and scores that do not depend on the folder's size."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from explorer.analysis.calibration import pair_curve
from explorer.analysis.duplicates import duplicate_scores, near_duplicate_groups
from explorer.analysis.keepers import keep_reason, keeper_order, looks_like_copy
from explorer.analysis.knn import neighbor_graph
from explorer.analysis.params import default_dup_threshold
from explorer.analysis.pixelcheck import PixelCheck
from explorer.features.registry import BACKBONES
from explorer.inputs.decode import load_image, sharpness
from explorer.jobs.build import build
from explorer.store.index import Index
from explorer.store.records import ImageRecord


def _record(path: str, **kw: object) -> ImageRecord:
    base = {"size": 1000, "mtime_ns": 10, "sha256": "h", "width": 100, "height": 80}
    base["sharpness"] = 50.0
    return ImageRecord(path=path, **{**base, **kw})  # type: ignore[arg-type]


def _best(*records: ImageRecord) -> str:
    return records[keeper_order(records)[0]].path


def test_keeper_rule_resolution_then_sharpness_then_file_then_age() -> None:
    big = _record("a.jpg", width=4032, height=3024, size=10, sharpness=1.0, mtime_ns=99)
    assert _best(_record("b.jpg"), big) == "a.jpg"
    sharp = _record("s.jpg", sharpness=80.0, size=10)
    assert _best(_record("b.jpg", sharpness=20.0), sharp) == "s.jpg"
    heavy = _record("f.jpg", size=5000, mtime_ns=99)
    assert _best(_record("b.jpg"), heavy) == "f.jpg"
    old = _record("z-old.jpg", mtime_ns=1)
    assert _best(_record("b.jpg"), old) == "z-old.jpg"
    # re-saving or brightening moves sharpness by less than the margin: it does not decide
    resaved = _record("r-q70.jpg", sharpness=50.0 * 1.15, size=900)
    assert _best(resaved, _record("orig.jpg")) == "orig.jpg"
    assert keep_reason(_record("orig.jpg"), [resaved]) == "100×80, largest file"
    # at one resolution and sharpness, a lossless file beats a (larger) lossy re-encode of it
    bigger_jpeg = _record("r.jpg", size=5000)
    assert _best(bigger_jpeg, _record("orig.png")) == "orig.png"
    assert keep_reason(_record("orig.png"), [bigger_jpeg]) == "100×80, lossless format"
    # between lossless files the size says nothing: a brightened PNG copy is often larger
    bright = _record("orig-bright.png", size=5000, mtime_ns=20)
    assert _best(bright, _record("orig.png")) == "orig.png"
    assert keep_reason(_record("orig.png"), [bright]) == "100×80, oldest"
    # unknown sharpness (an index built before it was stored) counts as least sharp
    assert _best(_record("u.jpg", sharpness=None), _record("k.jpg", sharpness=0.0)) == "k.jpg"
    assert keep_reason(big, [_record("b.jpg")]) == "4032×3024, highest resolution"
    assert keep_reason(sharp, [_record("b.jpg", sharpness=20.0)]) == "100×80, sharpest"
    assert keep_reason(heavy, [_record("b.jpg")]) == "100×80, largest file"
    assert keep_reason(old, [_record("b.jpg")]) == "100×80, oldest"


def test_capture_date_decides_before_the_file_clock() -> None:
    # after resolution, sharpness, size and name: a camera original (EXIF date) first,
    # then the earliest taken; the file's mtime only after that
    exif = {"taken_source": "exif"}
    early = _record("b-early.jpg", taken="2019-07-14T18:30:05", mtime_ns=99, **exif)
    late = _record("a-late.jpg", taken="2020-01-01T00:00:00", mtime_ns=1, **exif)
    assert _best(late, early) == "b-early.jpg"
    assert keep_reason(early, [late]) == "100×80, taken first"
    resaved = _record("c.jpg", taken="2018-01-01T00:00:00", taken_source="mtime", mtime_ns=1)
    assert _best(resaved, late) == "a-late.jpg"
    assert keep_reason(late, [resaved]) == "100×80, has an EXIF capture date"


@pytest.mark.parametrize(
    "copy",
    [
        "buildings-house-01-copy.png",
        "buildings-house-01 (1).png",
        "buildings-house-01 copy 2.png",
        "Copy of buildings-house-01.png",
        "buildings-house-01_duplicate.png",
    ],
)
def test_the_original_wins_over_its_exact_copy(copy: str) -> None:
    original = _record("buildings-house-01.png")
    twin = replace(original, path=copy)
    assert looks_like_copy(copy) and not looks_like_copy(original.path)
    assert _best(twin, original) == original.path
    assert _best(original, twin) == original.path
    assert keep_reason(original, [twin]) == "100×80, not named as a copy"
    # even when the copy is older: for byte-identical files the name says more than the clock
    assert _best(replace(twin, mtime_ns=1), original) == original.path


def test_shortest_name_breaks_the_last_tie() -> None:
    assert _best(_record("photo-edited.jpg"), _record("photo.jpg")) == "photo.jpg"
    assert not looks_like_copy("photocopy.jpg")  # a word that contains "copy" is not a copy
    sharpless = _record("a.jpg", sharpness=None)
    assert "sharpness not recorded" in keep_reason(sharpless, [replace(sharpless, path="b.jpg")])


def _photo(seed: int, size: int = 160) -> Image.Image:
    """Smooth blobs with edges, like a small photograph."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3), np.float32)
    for _ in range(6):
        cx, cy, r = rng.random(3)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < (0.1 + 0.25 * r) ** 2
        img[mask] = rng.integers(0, 255, 3)
    img += 30 * np.sin(6 * xx)[..., None]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _webp(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "WEBP", quality=80)
    return out.getvalue()


def test_pixel_check_keeps_edited_copies_and_rejects_a_mirror_image() -> None:
    im = _photo(1)
    w, h = im.size
    jpeg = io.BytesIO()
    im.save(jpeg, "JPEG", quality=60)
    edits = [
        im.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
        im.crop((round(w * 0.06), round(h * 0.06), round(w * 0.94), round(h * 0.94))),
        im.crop((0, 0, round(w * 0.9), round(h * 0.9))),  # 10 % off two sides
        Image.open(jpeg),
        im.point(lambda v: min(255, int(v * 1.15))),
    ]
    red, green, blue = im.split()
    others = [
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        _photo(2),
        Image.merge("RGB", (blue, green, red)),  # the same drawing in other colours
    ]
    check = PixelCheck([_webp(x) for x in [im, *edits, *others]])
    assert all(check(0, i) for i in range(1, 1 + len(edits))), [
        check.difference(0, i) for i in range(1, 1 + len(edits))
    ]
    assert not any(check(0, i) for i in range(1 + len(edits), 1 + len(edits) + len(others)))
    assert check.difference(0, 1) == check.difference(1, 0)
    broken = PixelCheck([_webp(im), b"not a webp"])
    assert not broken(0, 1)
    with pytest.raises(ValueError, match="max_diff"):
        PixelCheck([], max_diff=2.0)


def test_sharpness_is_stored_and_lower_for_a_blurred_copy(tmp_path: Path) -> None:
    im = _photo(3, size=400)
    im.save(tmp_path / "sharp.png")
    im.filter(ImageFilter.GaussianBlur(3)).save(tmp_path / "blurred.png")
    sharp, blurred = load_image(tmp_path / "sharp.png"), load_image(tmp_path / "blurred.png")
    assert sharp.sharpness > 2 * blurred.sharpness > 0  # type: ignore[union-attr]
    assert sharpness(Image.new("RGB", (2, 2))) == 0.0
    build(tmp_path, index_path=tmp_path / "idx", backbone="pixels")
    records = {r.path: r for r in Index(tmp_path / "idx").records}
    assert records["sharp.png"].sharpness == sharp.sharpness  # type: ignore[union-attr]


def test_a_record_written_before_sharpness_existed_still_loads() -> None:
    # the record of a schema-2 index written before this field: no "sharpness" key
    old = {"path": "a.jpg", "size": 10, "mtime_ns": 1, "sha256": "h", "width": 4, "height": 3}
    record = ImageRecord(**old)  # type: ignore[arg-type]
    assert record.sharpness is None
    assert keep_reason(record, [replace(record, path="b-copy.jpg")]).startswith(
        "4×3, not named as a copy (sharpness not recorded"
    )


def test_every_backbone_has_a_calibrated_default() -> None:
    for name, spec in BACKBONES.items():
        assert spec.dup_threshold is not None and 0.5 < spec.dup_threshold < 1.0, name
        assert default_dup_threshold(name) == spec.dup_threshold
    assert 0.5 < default_dup_threshold("no-such-backbone") < 1.0


@pytest.mark.slow
def test_a_pair_scores_the_same_among_8_and_among_1000_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    original = _photo(100, size=200)
    small = original.resize((120, 120), Image.Resampling.LANCZOS)

    def folder(n: int) -> Path:
        root = tmp_path / f"n{n}"
        root.mkdir()
        original.save(root / "apple.png")
        small.save(root / "apple-small.png")
        for i in range(n - 2):
            base = np.asarray(_photo(int(rng.integers(1 << 30)), size=64), np.float32)
            Image.fromarray(base.astype(np.uint8)).save(root / f"other-{i:04d}.png")
        return root

    found = {}
    for n in (8, 1000):
        index = tmp_path / f"idx{n}"
        build(folder(n), index_path=index, backbone="pixels")
        idx = Index(index)
        paths = [r.path for r in idx.records]
        a, b = paths.index("apple.png"), paths.index("apple-small.png")
        nbrs, scores = neighbor_graph(np.asarray(idx.vectors), k=15)
        dup = duplicate_scores(idx, nbrs)
        col = list(nbrs[a]).index(b)
        found[n] = float(dup[a, col])
        groups = near_duplicate_groups(idx, nbrs, scores, threshold=default_dup_threshold("pixels"))
        assert [sorted(g.members) for g in groups] == [sorted([a, b])]
    assert abs(found[8] - found[1000]) < 0.02, found


def test_pair_curve_is_the_score_per_rank_with_the_cut() -> None:
    nbrs = np.array([[1, 2], [0, 2], [0, 3], [2, 1]], dtype=np.int32)
    scores = np.array([[0.99, 0.5], [0.99, 0.7], [0.5, 0.9], [0.9, 0.2]], dtype=np.float32)
    curve = pair_curve(nbrs, scores, threshold=0.8, ranks=(1, 2, 100))
    # pairs by score: (0,1) 0.99, (2,3) 0.9, (1,2) 0.7, (0,2) 0.5, (1,3) 0.2
    assert [(r, s) for r, s, _ in curve] == [(1, 0.99), (2, 0.9), (3, 0.7), (5, 0.2)]
    assert all(ok is None for *_, ok in curve)
    scores_desc = [s for _, s, _ in curve]
    assert scores_desc == sorted(scores_desc, reverse=True)
    checked = pair_curve(nbrs, scores, check=lambda a, b: a + b == 1)
    assert checked[0][2] is True and all(ok is False for *_, ok in checked[1:])


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
DESIGNED = {
    ("animals-dog-01-crop.png", "animals-dog-01.png"),
    ("buildings-house-01-copy.png", "buildings-house-01.png"),
    ("food-apple-02-small.png", "food-apple-02.png"),
    ("photos-cat-01-lowq.jpg", "photos-cat-01.jpg"),
    ("photos-coffee-01-small.jpg", "photos-coffee-01.jpg"),
    ("photos-rocket-01-crop.jpg", "photos-rocket-01.jpg"),
}


@pytest.mark.slow
def test_the_sample_gives_exactly_its_six_designed_groups_with_lite0(tmp_path: Path) -> None:
    build(SAMPLE, index_path=tmp_path / "idx", backbone="efficientnet-lite0")
    idx = Index(tmp_path / "idx")
    nbrs, scores = neighbor_graph(np.asarray(idx.vectors), k=15)
    groups = near_duplicate_groups(
        idx, nbrs, scores, threshold=default_dup_threshold("efficientnet-lite0")
    )
    found = {tuple(sorted(idx.records[i].path for i in g.members)) for g in groups}
    assert found == DESIGNED
    assert [g.exact for g in groups].count(True) == 1
