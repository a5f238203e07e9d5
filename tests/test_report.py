"""The standalone HTML report: one file, embedded thumbnails, escaping, sidecar mode, size."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from explorer.analysis.calibration import pairs_near
from explorer.analysis.clustering import cluster, representatives
from explorer.analysis.duplicates import find_duplicates
from explorer.analysis.knn import neighbor_graph
from explorer.analysis.layout import embed_2d
from explorer.analysis.pca import normalize
from explorer.page.data import ReportData
from explorer.page.render import write_report
from explorer.page.thumbnails import THUMB_BYTES_CAP

HOSTILE = "<img src=x onerror=alert(1)>.jpg"
HOSTILE_RAW = "<img src=x onerror=alert(1)>"
DUP_THRESHOLD = 0.99
QUOTED = "Tom & \"Jerry\" 'quoted'.jpg"
HOSTILE_TAG = "<script>alert(1)</script>"
HOSTILE_CLUSTER = "<img src=x onerror=alert(2)> & co"
CLUSTER_NAMES = [
    HOSTILE_CLUSTER,
    "tabby / tiger cat / Egyptian cat",
    "golden retriever / Labrador retriever",
    'Tom & "Jerry"',
]
FAMILIES = {
    "red": (205, 55, 45),
    "green": (45, 150, 75),
    "blue": (45, 85, 200),
    "gold": (225, 175, 45),
}


def photo_like(
    colour: tuple[int, int, int], seed: int, *, size: int = 200, noise: float = 3.0
) -> Image.Image:
    """A smooth gradient in ``colour`` with a few discs: compresses like a simple photo."""
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    shade = 0.55 + 0.3 * xx[..., None] + 0.15 * yy[..., None]
    pixels = base * shade + rng.normal(0, noise, (size, size, 3))
    im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(3):
        x, y = (int(v) for v in rng.integers(0, size - 70, 2))
        r = int(rng.integers(25, 70))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse((x, y, x + r, y + r), fill=fill)
    return im


def webp_thumbnail(im: Image.Image, *, side: int = 160, quality: int = 75) -> bytes:
    thumb = im.copy()
    thumb.thumbnail((side, side))
    buf = io.BytesIO()
    thumb.save(buf, "WEBP", quality=quality)
    return buf.getvalue()


def make_report_data(
    *,
    n_per_family: int = 8,
    noise: float = 3.0,
    use_umap: bool = False,
    title: str = "photos",
    cluster_names: list[str] | None = None,
    extras: bool = True,
) -> ReportData:
    """A report of synthetic images in a few colour families, with awkward file names.

    Image 0 is named :data:`HOSTILE`, image 1 :data:`QUOTED`, image 2 has a
    non-UTF-8 byte in its name (a lone surrogate), and the last image is a
    byte-identical copy of image 5 (a near-duplicate in feature space).

    With ``extras`` the optional fields are filled too: tags (image 0 carries
    :data:`HOSTILE_TAG`, the red family "warm", every third image "outdoor",
    images 3 and 4 "favourite", the copy "copy"), exact duplicates (5 and the
    copy), the last member of each duplicate group as its keeper, the pair
    histogram and the threshold.
    """
    paths: list[str] = []
    thumbs: list[bytes] = []
    feats: list[NDArray[np.float32]] = []
    seed = 0
    for family, colour in FAMILIES.items():
        for i in range(n_per_family):
            im = photo_like(colour, seed, noise=noise)
            seed += 1
            thumbs.append(webp_thumbnail(im))
            feats.append(np.asarray(im.resize((8, 8)), dtype=np.float32).reshape(-1))
            paths.append(f"{family}/{family}-{i:02d}.jpg")
    paths[0] = f"red/{HOSTILE}"
    paths[1] = f"red/{QUOTED}"
    paths[2] = "red/latin1-caf\udce9.jpg"
    paths.append("red/red-05 copy.jpg")
    thumbs.append(thumbs[5])
    feats.append(feats[5] + 0.5)
    x = np.asarray(feats)
    vectors = normalize((x - x.mean(axis=0)).astype(np.float32))
    nbrs, scores = neighbor_graph(vectors, k=15)
    clustering = cluster(vectors, n_clusters=len(FAMILIES))
    if use_umap:
        coords = embed_2d(vectors, neighbors=nbrs, scores=scores)
    else:
        coords = np.ascontiguousarray(vectors[:, :2])
    top, top_scores = nbrs[:, :5], scores[:, :5]
    groups = find_duplicates(top, top_scores, threshold=DUP_THRESHOLD)
    n = len(paths)
    tags: list[list[str]] = [[] for _ in range(n)]
    for i in range(n_per_family):
        tags[i].append("warm")
    for i in range(1, n, 3):
        tags[i].append("outdoor")
    tags[0].append(HOSTILE_TAG)
    tags[3].append("favourite")
    tags[4].append("favourite")
    tags[-1].append("copy")
    data = ReportData(
        title=title,
        root="/home/someone/photos",
        paths=paths,
        thumbnails=thumbs,
        coords=coords,
        labels=clustering.labels,
        neighbors=top,
        neighbor_scores=top_scores,
        representatives=representatives(vectors, clustering),
        duplicate_groups=groups,
        cluster_names=cluster_names,
        summary={"Backbone": "VGG16 fc2", "PCA": "300 components", "Note": QUOTED},
    )
    if not extras:
        return data
    return replace(
        data,
        tags=[sorted(t) for t in tags],
        exact_copies=[[5, n - 1]],
        duplicate_keepers=[g.members[-1] for g in groups],
        duplicate_histogram=pair_histogram(top, top_scores),
        dup_threshold=DUP_THRESHOLD,
        duplicate_examples=pairs_near(top, top_scores, threshold=DUP_THRESHOLD, count=2),
    )


def pair_histogram(
    neighbors: NDArray[np.int32], scores: NDArray[np.float32]
) -> list[tuple[float, int]]:
    """Distinct neighbour pairs at or above 0.80, 0.81, ..., 1.00."""
    pairs = {
        (min(i, int(j)), max(i, int(j))): float(s)
        for i, (row, srow) in enumerate(zip(neighbors, scores, strict=True))
        for j, s in zip(row, srow, strict=True)
        if j >= 0 and j != i
    }
    values = np.asarray(sorted(pairs.values()))
    thresholds = [round(0.80 + 0.01 * t, 2) for t in range(21)]
    return [(t, int(np.sum(values >= t - 1e-9))) for t in thresholds]


def page_data(text: str) -> dict[str, object]:
    match = re.search(
        r'<script type="application/json" id="explorer-data">(.*?)</script>', text, re.S
    )
    assert match is not None
    data: dict[str, object] = json.loads(match.group(1))
    return data


@pytest.fixture(scope="module")
def report_data() -> ReportData:
    return make_report_data()


@pytest.fixture(scope="module")
def report_html(report_data: ReportData, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = write_report(report_data, tmp_path_factory.mktemp("r") / "photos.html")
    return out.read_text(encoding="utf-8")


def test_single_file_without_external_resources(report_html: str) -> None:
    for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", report_html, re.I):
        assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", tag, re.I), tag
    assert not re.search(r"<link\b", report_html, re.I)
    assert "Bokeh.embed.embed_items" in report_html  # BokehJS inlined
    assert report_html.count("<html") == 1


def test_every_thumbnail_is_embedded_as_a_data_uri(
    report_data: ReportData, report_html: str
) -> None:
    assert all(len(t) <= THUMB_BYTES_CAP for t in report_data.thumbnails)  # typical: kept as is
    for thumb in report_data.thumbnails:
        uri = "data:image/webp;base64," + base64.b64encode(thumb).decode("ascii")
        assert uri in report_html
    data = page_data(report_html)
    assert data["thumbs"] == [
        "data:image/webp;base64," + base64.b64encode(t).decode("ascii")
        for t in report_data.thumbnails
    ]


def test_hostile_names_never_appear_raw(tmp_path: Path) -> None:
    data = make_report_data(
        n_per_family=3, title=HOSTILE, cluster_names=[HOSTILE, QUOTED, "c", "d"]
    )
    data = ReportData(**{**data.__dict__, "root": f"/x/{HOSTILE}", "summary": {HOSTILE: HOSTILE}})
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    assert HOSTILE_RAW not in text
    assert text.count("&lt;img src=x onerror=alert(1)&gt;.jpg") >= 3  # title, h1, root, summary
    payload = page_data(text)
    paths = payload["paths"]
    assert isinstance(paths, list) and paths[0] == f"red/{HOSTILE}"
    assert paths[1] == f"red/{QUOTED}"
    clusters = payload["clusters"]
    assert isinstance(clusters, list) and clusters[0]["name"] == HOSTILE


def test_header_text_is_escaped_once(tmp_path: Path) -> None:
    data = make_report_data(n_per_family=3, title='<b>"T" & co</b>')
    data = replace(data, root="/x/<y>", summary={"<k>": QUOTED})
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h1>&lt;b&gt;&#34;T&#34; &amp; co&lt;/b&gt;</h1>" in text
    assert '<div class="root">/x/&lt;y&gt;</div>' in text
    assert "<dt>&lt;k&gt;</dt><dd>Tom &amp; &#34;Jerry&#34; &#39;quoted&#39;.jpg</dd>" in text
    assert "<title>&lt;b&gt;&#34;T&#34; &amp; co&lt;/b&gt;</title>" in text
    assert "&amp;lt;" not in text and "&amp;#" not in text  # never escaped twice


def test_hostile_tags_and_cluster_names_never_appear_raw(
    report_data: ReportData, tmp_path: Path
) -> None:
    tags = [list(t) for t in report_data.tags or []]
    tags[2] = ["caf\udce9", HOSTILE]
    data = replace(report_data, tags=tags, cluster_names=CLUSTER_NAMES)
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    for raw in (HOSTILE_TAG, HOSTILE_RAW, "<img src=x onerror=alert(2)>"):
        assert raw not in text
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text
    payload = page_data(text)
    names = [t["name"] for t in payload["tags"]]  # type: ignore[attr-defined]
    assert HOSTILE_TAG in names and HOSTILE in names and "caf\ufffd" in names
    assert payload["clusters"][0]["name"] == HOSTILE_CLUSTER  # type: ignore[index]


def test_tags_and_duplicate_fields_are_serialised(
    report_data: ReportData, report_html: str
) -> None:
    payload = page_data(report_html)
    n = len(report_data.paths)
    tags = report_data.tags or []
    expected = sorted({t for ts in tags for t in ts})
    assert [t["name"] for t in payload["tags"]] == expected  # type: ignore[attr-defined]
    for entry in payload["tags"]:  # type: ignore[attr-defined]
        assert entry["m"] == [i for i in range(n) if entry["name"] in tags[i]]
    assert payload["copies"] == [[5, n - 1]]
    dups = payload["dups"]
    assert isinstance(dups, list) and len(dups) == len(report_data.duplicate_groups) == 1
    assert [g["keep"] for g in dups] == report_data.duplicate_keepers == [n - 1]
    assert payload["dup_threshold"] == DUP_THRESHOLD


def test_histogram_marks_the_threshold(report_data: ReportData, report_html: str) -> None:
    hist = report_data.duplicate_histogram or []
    bars = re.findall(
        r'<rect class="hist-bar( on)?"[^>]*data-threshold="([\d.]+)" data-pairs="(\d+)"',
        report_html,
    )
    assert [(float(t), int(c)) for _, t, c in bars] == [(t, c) for t, c in hist]
    assert [bool(on) for on, _, _ in bars] == [t >= DUP_THRESHOLD for t, _ in hist]
    assert report_html.count('class="hist-cut"') == 1
    assert "T = 0.99" in report_html
    assert "<code>explorer duplicates --threshold T</code>" in report_html
    # log scale: a bar's height grows with its count
    heights = re.findall(r'class="hist-bar[^"]*"[^>]*height="([\d.]+)"', report_html)
    bars_by_count = [(c, float(h)) for (_, c), h in zip(hist, heights, strict=True)]
    for (c1, h1), (c2, h2) in itertools.pairwise(bars_by_count):
        assert (h1 > h2) == (c1 > c2)


@pytest.mark.parametrize(
    ("hist", "threshold"),
    [
        ([(0.8, 0), (0.9, 0), (1.0, 0)], 0.5),  # nothing above, threshold left of the range
        ([(0.95, 4)], 0.999),  # one bar, threshold right of it
        ([(0.8, 10_000), (0.9, 10), (1.0, 1)], None),  # no threshold: no marker
    ],
)
def test_histogram_edge_cases(
    report_data: ReportData,
    tmp_path: Path,
    hist: list[tuple[float, int]],
    threshold: float | None,
) -> None:
    data = replace(report_data, duplicate_histogram=hist, dup_threshold=threshold)
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    assert text.count('<rect class="hist-bar') == len(hist)
    assert text.count('class="hist-cut"') == (threshold is not None)
    assert page_data(text)["dup_threshold"] == threshold


def test_optional_fields_may_be_left_out(tmp_path: Path) -> None:
    data = make_report_data(n_per_family=3, extras=False)
    assert data.tags is None and data.duplicate_histogram is None
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    payload = page_data(text)
    assert payload["tags"] == [] and payload["copies"] == [] and payload["dup_threshold"] is None
    assert all(g["keep"] == -1 for g in payload["dups"])  # type: ignore[attr-defined]
    assert 'id="dup-hist"' not in text
    assert '<label class="color-by" id="color-by-box" hidden>' in text  # shown by the script


def test_names_inside_scripts_are_escaped(report_html: str) -> None:
    # Our JSON escapes < > & as \\u003c \\u003e \\u0026; Bokeh HTML-escapes its own.
    assert HOSTILE_RAW not in report_html
    for body in re.findall(r"<script[^>]*>(.*?)</script>", report_html, re.S):
        assert HOSTILE_RAW not in body
    assert "\\u003cimg src=x onerror=alert(1)\\u003e.jpg" in report_html
    assert r"""Tom \u0026 \"Jerry\" 'quoted'.jpg""" in report_html


def test_undecodable_names_show_a_replacement_character(report_html: str) -> None:
    paths = page_data(report_html)["paths"]
    assert isinstance(paths, list) and paths[2] == "red/latin1-caf\ufffd.jpg"


def test_write_is_atomic_and_readable(report_data: ReportData, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "r.html"
    out.parent.mkdir()
    out.write_text("old")
    assert write_report(report_data, out) == out
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.html"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_large_collections_use_webgl(tmp_path: Path) -> None:
    n = 2100
    rng = np.random.default_rng(0)
    thumb = webp_thumbnail(photo_like((90, 90, 90), 0), side=32)
    nbrs = np.stack([(np.arange(n) + d) % n for d in range(1, 6)], axis=1).astype(np.int32)
    data = ReportData(
        title="big",
        root="/big",
        paths=[f"img-{i}.jpg" for i in range(n)],
        thumbnails=[thumb] * n,
        coords=rng.normal(size=(n, 2)).astype(np.float32),
        labels=(np.arange(n) % 3).astype(np.int32),
        neighbors=nbrs,
        neighbor_scores=np.full((n, 5), 0.5, dtype=np.float32),
        representatives=[[0], [1], [2]],
        duplicate_groups=[],
    )
    text = write_report(data, tmp_path / "big.html").read_text(encoding="utf-8")
    assert '"output_backend":"webgl"' in text
