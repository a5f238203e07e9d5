"""Compare explorer's Keras EfficientNet-Lite0 with a plain PyTorch re-implementation.

A developer check, not run in CI. Both networks read the same ``.pth`` file
(explorer through its own torch-free reader, PyTorch through ``torch.load``)
and run on the same uint8 images: scikit-image's three sample photos from
``tests/data/skimage`` (through explorer's loader), a few clip-art images and
random noise. The script prints the largest absolute difference of the logits
and of the 1280-d features; the target is below 1e-3.

TensorFlow and torch live in different virtual environments, so the script
runs in two halves: in explorer's venv it computes the Keras outputs, writes
them with the pixels to a temporary ``.npz`` and runs itself again with the
torch venv's Python, which rebuilds the network in PyTorch and compares::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy pillow
    .venv/bin/python scripts/compare_lite0_torch.py --torch-python /tmp/torchenv/bin/python

The torch half imports nothing from explorer.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1e-3
CLIPART = [("clocks", "clock01.png"), ("fruit", "bananas_nicu_buculei_01.png")]

# EfficientNet-B0's stages without squeeze-excitation. Deliberately a copy of
# explorer.features.lite0.STAGES: the PyTorch half is an independent re-implementation.
# (repeats, kernel, stride, expand ratio, in channels, out channels)
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def keras_half(torch_python: str, n_random: int) -> int:
    """Run explorer's model, then hand the inputs and outputs to the torch half."""
    sys.path.insert(0, str(ROOT))
    from explorer.features import lite0
    from explorer.inputs.decode import LoadedImage, load_image

    files = sorted((ROOT / "tests" / "data" / "skimage").glob("*.png"))
    files += [ROOT / "tests" / "data" / "clipart" / c / n for c, n in CLIPART]
    images = [load_image(p) for p in files]
    pixels = [im.pixels for im in images if isinstance(im, LoadedImage)]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (n_random, 224, 224, 3), dtype=np.uint8)
    batch = np.concatenate([np.stack(pixels), noise])
    backbone = lite0.build_backbone()
    features, logits = backbone.features_and_logits(batch)
    from explorer.features.torchfile import read_state_dict

    state = read_state_dict(Path(backbone.info.weights), sha256=lite0.WEIGHTS_SHA256)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "keras.npz"
        np.savez(out, pixels=batch, features=features, logits=logits)
        np.savez(Path(tmp) / "state.npz", **{k.replace(".", "/"): v for k, v in state.items()})
        meta = {
            "pth": backbone.info.weights,
            "names": [p.name for p in files] + [f"noise-{i}" for i in range(n_random)],
        }
        cmd = [torch_python, __file__, "--torch-half", str(out), json.dumps(meta)]
        return subprocess.run(cmd, check=False).returncode


def torch_half(npz: Path, meta_json: str) -> int:
    """Rebuild EfficientNet-Lite0 in plain PyTorch and compare with the Keras outputs."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    meta = json.loads(meta_json)

    class SamePadConv(nn.Conv2d):  # type: ignore[misc]
        """TensorFlow's SAME padding: the odd pixel goes after (right, bottom)."""

        def forward(self, x: Any) -> Any:
            pads = []
            for size, k, s in zip(
                reversed(x.shape[-2:]),
                reversed(self.kernel_size),
                reversed(self.stride),
                strict=True,
            ):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return super().forward(F.pad(x, pads))

    def bn(c: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(c, eps=1e-3)

    class Block(nn.Module):  # type: ignore[misc]
        def __init__(self, k: int, s: int, e: int, c_in: int, c_out: int) -> None:
            super().__init__()
            mid = c_in * e
            self.expand = e != 1
            if self.expand:
                self._expand_conv = SamePadConv(c_in, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SamePadConv(mid, mid, k, stride=s, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = SamePadConv(mid, c_out, 1, bias=False)
            self._bn2 = bn(c_out)
            self.skip = s == 1 and c_in == c_out

        def forward(self, x: Any) -> Any:
            y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return y + x if self.skip else y

    class Lite0(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._conv_stem = SamePadConv(3, 32, 3, stride=2, bias=False)
            self._bn0 = bn(32)
            blocks = []
            for repeats, k, s, e, c_in, c_out in STAGES:
                for r in range(repeats):
                    blocks.append(Block(k, s if r == 0 else 1, e, c_in if r == 0 else c_out, c_out))
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = SamePadConv(320, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, 1000)

        def forward(self, x: Any) -> tuple[Any, Any]:
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            features = F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))
            return features, self._fc(features)

    reference = torch.load(meta["pth"], map_location="cpu", weights_only=True)
    with np.load(npz.with_name("state.npz")) as z:
        ours = {k.replace("/", "."): z[k] for k in z.files}
    differ = [
        k
        for k, t in reference.items()
        if k not in ours or ours[k].dtype != t.numpy().dtype or not np.array_equal(ours[k], t)
    ]
    print(
        f"explorer's reader vs torch.load: {len(reference)} tensors, "
        f"{len(differ)} differ, {len(set(ours) - set(reference))} extra"
    )
    same_state = not differ and set(ours) == set(reference)
    model = Lite0().eval()
    model.load_state_dict(reference)
    data = np.load(npz)
    x = (torch.from_numpy(data["pixels"]).float() - 127.0) / 128.0
    with torch.no_grad():
        features, logits = model(x.permute(0, 3, 1, 2).contiguous())
    features, logits = features.numpy(), logits.numpy()
    d_logits = float(np.abs(logits - data["logits"]).max())
    d_features = float(np.abs(features - data["features"]).max())
    same_top1 = bool((logits.argmax(1) == data["logits"].argmax(1)).all())
    print(f"torch {torch.__version__}, {len(logits)} images")
    for name, row in zip(meta["names"], logits, strict=True):
        print(f"  {name:<32} torch top-1 {int(row.argmax()):>4}")
    print(f"largest |logit difference|:   {d_logits:.2e}")
    print(f"largest |feature difference|: {d_features:.2e}")
    print(f"same top-1 class everywhere:  {same_top1}")
    ok = d_logits < TARGET and same_top1 and same_state
    print("OK" if ok else f"FAIL: target is a logit difference below {TARGET}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the requested half."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    parser.add_argument("--random", type=int, default=5, help="noise images added")
    parser.add_argument("--torch-half", nargs=2, metavar=("NPZ", "META"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_half:
        return torch_half(Path(args.torch_half[0]), args.torch_half[1])
    return keras_half(args.torch_python, args.random)


if __name__ == "__main__":
    sys.exit(main())
