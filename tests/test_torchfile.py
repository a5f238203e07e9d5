"""The legacy ``.pth`` reader: the real weights file, and files it must refuse unexecuted."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.features import lite0
from explorer.features.torchfile import TorchFileError, parse_state_dict, read_state_dict

# The pickle streams of a legacy file start with these three records, byte for byte
# as torch.save wrote them: magic number, format version 1001, system info.
MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
VERSION = b"\x80\x02M\xe9\x03."
SYS_INFO = (
    b"\x80\x02}q\x00(X\x10\x00\x00\x00protocol_versionq\x01M\xe9\x03X\r\x00\x00\x00"
    b"little_endianq\x02\x88X\n\x00\x00\x00type_sizesq\x03}q\x04(X\x05\x00\x00\x00"
    b"shortq\x05K\x02X\x03\x00\x00\x00intq\x06K\x04X\x04\x00\x00\x00longq\x07K\x04uu."
)


@pytest.fixture(scope="module")
def pth() -> Path:
    return lite0.weights_path()


@pytest.fixture(scope="module")
def pth_bytes(pth: Path) -> bytes:
    return pth.read_bytes()


def _text(s: str) -> bytes:
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _tiny_file(values: list[float], *, shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """A legacy file holding one float tensor ``w`` over one storage, written by hand."""

    def ints(xs: tuple[int, ...]) -> bytes:
        return b"(" + b"".join(b"K" + bytes([x]) for x in xs) + b"t"

    state = (
        b"\x80\x02ccollections\nOrderedDict\n)R"
        + _text("w")
        + b"ctorch._utils\n_rebuild_tensor_v2\n("
        + b"("
        + _text("storage")
        + b"ctorch\nFloatStorage\n"
        + _text("k0")
        + _text("cpu")
        + b"K"
        + bytes([len(values)])
        + b"NtQ"
        + b"K\x00"
        + ints(shape)
        + ints(stride)
        + b"\x89ccollections\nOrderedDict\n)R"
        + b"tRs."
    )
    keys = b"\x80\x02]" + _text("k0") + b"a."
    data = struct.pack("<q", len(values)) + np.asarray(values, "<f4").tobytes()
    return MAGIC + VERSION + SYS_INFO + state + keys + data


def test_reads_the_real_weights_file(pth: Path) -> None:
    state = read_state_dict(pth, sha256=lite0.WEIGHTS_SHA256)
    assert len(state) == 296
    total = sum(a.size for a in state.values())
    assert total == 4_694_073  # 4.69 M, batch-norm statistics included
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    trainable = sum(a.size for k, a in state.items() if not k.endswith(buffers))
    assert trainable == 4_652_008
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].shape == (1000,)
    assert state["_bn0.num_batches_tracked"].shape == () and state["_bn0.num_batches_tracked"] == 0
    floats = [a for k, a in state.items() if not k.endswith("num_batches_tracked")]
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in floats)
    assert all(np.isfinite(a).all() for a in floats)
    assert min(a.min() for k, a in state.items() if k.endswith("running_var")) >= 0
    names = list(state)
    assert names[0] == "_conv_stem.weight" and names[-1] == "_fc.bias"


def test_refuses_a_wrong_digest_before_parsing(pth: Path, tmp_path: Path) -> None:
    with pytest.raises(TorchFileError, match="expected 0000"):
        read_state_dict(pth, sha256="0" * 64)
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"cos\nsystem\n")
    with pytest.raises(TorchFileError, match="refusing to read an unknown file"):
        read_state_dict(bogus, sha256=lite0.WEIGHTS_SHA256)


def test_refuses_a_disallowed_global_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    command = f"touch {marker}".encode()
    # what pickle.load would turn into os.system("touch ...")
    payload = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R."
    evil = tmp_path / "evil.pth"
    evil.write_bytes(MAGIC + VERSION + SYS_INFO + payload)
    digest = hashlib.sha256(evil.read_bytes()).hexdigest()
    with pytest.raises(TorchFileError, match=r"os\.system, which is not allowed"):
        read_state_dict(evil, sha256=digest)
    assert not marker.exists()
    # a global smuggled in as the magic number's stream, and a builtins call
    for data in (
        b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1q\x00\x85R.",
        MAGIC + VERSION + SYS_INFO + b"\x80\x02ctorch\nload\n.",
    ):
        with pytest.raises(TorchFileError, match="not allowed"):
            parse_state_dict(data)


def test_refuses_other_opcodes_and_formats() -> None:
    inst = MAGIC + VERSION + SYS_INFO + b"(ios\nsystem\nX\x02\x00\x00\x00id."  # INST opcode
    with pytest.raises(TorchFileError, match="unsupported pickle opcode"):
        parse_state_dict(inst)
    with pytest.raises(TorchFileError, match="zip format"):
        parse_state_dict(b"PK\x03\x04" + b"\x00" * 60)
    with pytest.raises(TorchFileError, match="magic number"):
        parse_state_dict(b"\x80\x02K\x07.")
    with pytest.raises(TorchFileError, match="ends early"):
        parse_state_dict(MAGIC + VERSION[:-1])


def test_hand_written_file_respects_offset_shape_and_stride() -> None:
    data = _tiny_file([0, 1, 2, 3, 4, 5], shape=(2, 3), stride=(3, 1))
    assert parse_state_dict(data)["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    transposed = _tiny_file([0, 1, 2, 3, 4, 5], shape=(3, 2), stride=(1, 3))
    assert parse_state_dict(transposed)["w"].tolist() == [[0, 3], [1, 4], [2, 5]]
    too_far = _tiny_file([0, 1, 2, 3], shape=(2, 3), stride=(3, 1))
    with pytest.raises(TorchFileError, match="past the end"):
        parse_state_dict(too_far)
    with pytest.raises(TorchFileError, match="unexpected bytes"):
        parse_state_dict(data + b"\x00")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_damaged_files_fail_cleanly(pth_bytes: bytes, data: st.DataObject) -> None:
    """Any byte flipped in the pickle part: a parse or a TorchFileError, nothing else."""
    buf = bytearray(pth_bytes[:50_000])  # the pickles end at byte 47176, then tensor data
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, 47_175))
        buf[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.sampled_from([len(pth_bytes), 47_176, 30_000]))
    damaged = bytes(buf) + pth_bytes[50_000:cut] if cut > 50_000 else bytes(buf[:cut])
    try:
        state = parse_state_dict(damaged)
    except TorchFileError as exc:
        assert str(exc)  # every refusal says why
    else:  # a flipped byte inside a name or a number can still parse
        assert all(isinstance(a, np.ndarray) for a in state.values())


def test_reading_imports_neither_torch_nor_tensorflow() -> None:
    code = (
        "import sys; from explorer.features import lite0, registry, torchfile;"
        " import explorer.cli;"
        "torchfile.read_state_dict(lite0.weights_path(), sha256=lite0.WEIGHTS_SHA256);"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
