"""Read a PyTorch state dict from the legacy ``.pth`` format without torch or ``pickle``.

PyTorch before 1.6 saved ``torch.save(model.state_dict(), f)`` as five pickle
streams in a row followed by raw tensor bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the format version ``1001``;
3. a dict of system information (byte order, C type sizes);
4. the state dict itself: an ``OrderedDict`` of name -> tensor, where each
   tensor is ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
   requires_grad, backward_hooks)`` and each storage is a *persistent id*
   ``("storage", torch.FloatStorage, key, location, numel, None)``;
5. the list of storage keys, in the order their data follows;

then, for each key, an 8-byte little-endian element count and the elements.

Unpickling such a file with :mod:`pickle` would let it call any importable
function. Instead a small machine steps through the few opcodes these streams
use, one entry of :data:`_OPCODES` each: ``GLOBAL`` resolves only the names of
:data:`_ALLOWED_GLOBALS`, to inert stand-ins; ``REDUCE`` "calls" only those;
any other global or opcode stops the read with :class:`TorchFileError` before
anything is built. The file's SHA-256 is checked before a byte is interpreted.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.errors import WeightsUnavailableError
from explorer.fs import sha256_hex

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
FORMAT_VERSION = 1001
_ZIP_SIGNATURE = b"PK\x03\x04"
_MAX_PROTOCOL = 2  # the legacy writer used protocol 2; newer opcodes are not needed
_MAX_INT = 1 << 48  # bound on sizes, strides and offsets


class TorchFileError(WeightsUnavailableError):
    """A ``.pth`` file is not the expected file, or holds something this reader refuses."""


@dataclass(frozen=True)
class _Callable:
    """Stand-in for an allowed callable global (``OrderedDict``, ``_rebuild_tensor_v2``)."""

    name: str


_ORDERED_DICT = _Callable("collections.OrderedDict")
_REBUILD_TENSOR = _Callable("torch._utils._rebuild_tensor_v2")

_STORAGE_DTYPES = {  # torch.FloatStorage and friends stand in as their dtypes
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}

_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): _ORDERED_DICT,
    ("torch._utils", "_rebuild_tensor_v2"): _REBUILD_TENSOR,
    **{("torch", name): np.dtype(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


@dataclass
class _Storage:
    """One storage record: its declared type and length, then its data once read."""

    key: str
    kind: np.dtype[Any]
    numel: int
    data: NDArray[Any] | None = None


@dataclass(frozen=True)
class _TensorRef:
    """What ``_rebuild_tensor_v2`` would have built: a strided view of a storage."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _Machine:
    """The file's bytes read as pickle streams (a stack, marks and memo stepped by
    :data:`_OPCODES`, and the storages they declare), never past the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.storages: dict[str, _Storage] = {}
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}

    def run(self) -> object:
        """Interpret one pickle stream up to its STOP opcode and return its value."""
        self.stack, self.marks, self.memo = [], [], {}
        while (op := self.take(1)) != b".":  # STOP
            if op not in _OPCODES:
                raise TorchFileError(f"unsupported pickle opcode {op!r} at offset {self.pos - 1}")
            _OPCODES[op][1](self)
        if len(self.stack) != 1 or self.marks:
            raise TorchFileError("malformed pickle: STOP with a stack of other than one item")
        return self.stack[0]

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TorchFileError(f"the file ends early (wanted {n} bytes at offset {self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little", signed=False)

    def name(self) -> str:
        """A GLOBAL's module or name: ASCII up to a newline."""
        end = self.data.find(b"\n", self.pos, self.pos + 256)
        if end < 0:
            raise TorchFileError("malformed pickle: unterminated GLOBAL name")
        text = self.take(end - self.pos).decode("ascii", errors="replace")
        self.take(1)
        return text

    def push(self, value: object) -> None:
        self.stack.append(value)

    def pop_n(self, n: int | None) -> list[object]:
        """The top ``n`` items, deepest first; ``None``: all above the last MARK, and the MARK."""
        if n is None:
            if not self.marks:
                raise TorchFileError("malformed pickle: no MARK")
            n = len(self.stack) - self.marks.pop()
        elif len(self.stack) - n < (self.marks[-1] if self.marks else 0):
            raise TorchFileError("malformed pickle: stack underflow")
        items = self.stack[len(self.stack) - n :]
        del self.stack[len(self.stack) - n :]
        return items

    def top(self, kind: type) -> Any:
        if not self.stack or not isinstance(self.stack[-1], kind):
            raise TorchFileError(f"malformed pickle: expected a {kind.__name__} on the stack")
        return self.stack[-1]

    def append(self, items: list[object]) -> None:
        self.top(list).extend(items)  # the items were popped first: the list lies below them

    def set_items(self, pairs: list[object]) -> None:
        target = self.top(dict)
        if len(pairs) % 2:
            raise TorchFileError("malformed pickle: SETITEMS with an odd item count")
        for key, value in zip(pairs[::2], pairs[1::2], strict=True):
            if not isinstance(key, str | int):
                raise TorchFileError(f"malformed pickle: a dict key of type {type(key).__name__}")
            target[key] = value

    def put(self, slot: int) -> None:
        if not self.stack:
            raise TorchFileError("malformed pickle: PUT on an empty stack")
        self.memo[slot] = self.stack[-1]

    def get(self, slot: int) -> object:
        if slot not in self.memo:
            raise TorchFileError(f"malformed pickle: GET of unknown memo slot {slot}")
        return self.memo[slot]

    def protocol(self, version: int) -> None:
        if version > _MAX_PROTOCOL:
            raise TorchFileError(f"unsupported pickle protocol at offset {self.pos - 2}")

    def text(self) -> str:
        at = self.pos - 1
        try:
            return self.take(self.uint(4)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TorchFileError(f"malformed pickle: bad UTF-8 at offset {at}") from exc

    def signed(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little", signed=True)


def read_state_dict(path: Path, *, sha256: str) -> dict[str, NDArray[Any]]:
    """Read a legacy-format PyTorch state dict as numpy arrays.

    Args:
        path: The ``.pth`` file.
        sha256: The hex SHA-256 the file must have; checked before parsing.

    Returns:
        Tensor name -> array (native byte order, C-contiguous, shape as in torch),
        in the file's order.

    Raises:
        TorchFileError: The digest differs, the file is not PyTorch's legacy
            format, or it holds a global, opcode or record outside the allowed set.
        OSError: The file cannot be read.
    """
    data = Path(path).read_bytes()
    actual = sha256_hex(data)
    if actual != sha256.lower():
        raise TorchFileError(
            f"{path} has sha256 {actual}, expected {sha256}; refusing to read an unknown file"
        )
    return parse_state_dict(data)


def parse_state_dict(data: bytes) -> dict[str, NDArray[Any]]:
    """Parse the bytes of a legacy ``.pth`` file (see :func:`read_state_dict`).

    Args:
        data: The whole file; callers check its digest first.

    Returns:
        Tensor name -> array.

    Raises:
        TorchFileError: The bytes are not an allowed legacy state dict.
    """
    if data.startswith(_ZIP_SIGNATURE):
        raise TorchFileError(
            "this is PyTorch's zip format (torch >= 1.6); only the legacy format is supported"
        )
    cursor = _Machine(data)
    if cursor.run() != MAGIC_NUMBER:
        raise TorchFileError("not a PyTorch legacy file (wrong magic number)")
    version = cursor.run()
    if version != FORMAT_VERSION:
        raise TorchFileError(f"unsupported PyTorch legacy format version {version!r}")
    sys_info = cursor.run()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise TorchFileError("only little-endian files are supported")
    state = cursor.run()
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, _TensorRef) for k, v in state.items()
    ):
        raise TorchFileError("the file does not hold a state dict of tensors")
    keys = cursor.run()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise TorchFileError("the storage key list is malformed")
    _read_storages(cursor, cursor.storages, keys)
    if cursor.pos != len(data):
        raise TorchFileError(f"{len(data) - cursor.pos} unexpected bytes after the last storage")
    return {name: _materialise(ref) for name, ref in state.items()}


def _read_storages(cursor: _Machine, storages: dict[str, _Storage], keys: list[str]) -> None:
    if sorted(keys) != sorted(storages) or len(set(keys)) != len(keys):
        raise TorchFileError("the storage key list does not match the tensors' storages")
    for key in keys:
        storage = storages[key]
        numel = cursor.uint(8)
        if numel != storage.numel:
            raise TorchFileError(
                f"storage {key} holds {numel} elements, its record says {storage.numel}"
            )
        dtype = storage.kind
        raw = cursor.take(numel * dtype.itemsize)
        storage.data = np.frombuffer(raw, dtype=dtype)


def _materialise(ref: _TensorRef) -> NDArray[Any]:
    """Copy a tensor's strided view out of its storage, after checking its bounds."""
    data = ref.storage.data
    assert data is not None  # every storage was read in parse_state_dict
    if (
        len(ref.shape) != len(ref.stride)
        or min((*ref.shape, *ref.stride, ref.offset), default=0) < 0
    ):
        raise TorchFileError("a tensor has a malformed shape, stride or offset")
    numel = math.prod(ref.shape)
    if numel == 0:
        return np.zeros(ref.shape, dtype=data.dtype.newbyteorder("="))
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
    if last >= data.size or numel > data.size:
        raise TorchFileError("a tensor reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * data.itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=data.dtype.newbyteorder("="), order="C")  # keeps 0-d as 0-d


_OPCODES: dict[bytes, tuple[str, Callable[[_Machine], object]]] = {
    b"\x80": ("PROTO", lambda m: m.protocol(m.uint(1))),
    b"(": ("MARK", lambda m: m.marks.append(len(m.stack))),
    b"N": ("NONE", lambda m: m.push(None)),
    b"\x88": ("NEWTRUE", lambda m: m.push(True)),
    b"\x89": ("NEWFALSE", lambda m: m.push(False)),
    b"K": ("BININT1", lambda m: m.push(m.uint(1))),
    b"M": ("BININT2", lambda m: m.push(m.uint(2))),
    b"J": ("BININT", lambda m: m.push(m.signed(4))),
    b"\x8a": ("LONG1", lambda m: m.push(m.signed(m.uint(1)))),
    b"G": ("BINFLOAT", lambda m: m.push(struct.unpack(">d", m.take(8))[0])),
    b"X": ("BINUNICODE", lambda m: m.push(m.text())),
    b")": ("EMPTY_TUPLE", lambda m: m.push(())),
    b"\x85": ("TUPLE1", lambda m: m.push(tuple(m.pop_n(1)))),
    b"\x86": ("TUPLE2", lambda m: m.push(tuple(m.pop_n(2)))),
    b"\x87": ("TUPLE3", lambda m: m.push(tuple(m.pop_n(3)))),
    b"t": ("TUPLE", lambda m: m.push(tuple(m.pop_n(None)))),
    b"]": ("EMPTY_LIST", lambda m: m.push([])),
    b"a": ("APPEND", lambda m: m.append(m.pop_n(1))),
    b"e": ("APPENDS", lambda m: m.append(m.pop_n(None))),
    b"}": ("EMPTY_DICT", lambda m: m.push({})),
    b"s": ("SETITEM", lambda m: m.set_items(m.pop_n(2))),
    b"u": ("SETITEMS", lambda m: m.set_items(m.pop_n(None))),
    b"q": ("BINPUT", lambda m: m.put(m.uint(1))),
    b"r": ("LONG_BINPUT", lambda m: m.put(m.uint(4))),
    b"h": ("BINGET", lambda m: m.push(m.get(m.uint(1)))),
    b"j": ("LONG_BINGET", lambda m: m.push(m.get(m.uint(4)))),
    b"c": ("GLOBAL", lambda m: m.push(_find_global(m.name(), m.name()))),
    b"R": ("REDUCE", lambda m: m.push(_reduce(*m.pop_n(2)))),
    b"Q": ("BINPERSID", lambda m: m.push(_persistent_load(m.pop_n(1)[0], m.storages))),
    b"b": ("BUILD", lambda m: _build(m.pop_n(1)[0], m.top(dict))),  # the state, then its object
}
"""Every opcode a legacy state dict uses: code -> (pickle's name for it, its step).
Any other opcode stops the read; GLOBAL yields only the stand-ins above."""


def _find_global(module: str, name: str) -> object:
    try:
        return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
        raise TorchFileError(
            f"the file refers to {module}.{name}, which is not allowed in a state dict"
        ) from None


def _reduce(func: object, args: object) -> object:
    """The only two calls a state dict makes, performed on stand-ins."""
    if not isinstance(args, tuple):
        raise TorchFileError("malformed pickle: REDUCE without an argument tuple")
    if func is _ORDERED_DICT and args == ():
        return {}
    if func is _REBUILD_TENSOR and len(args) in (6, 7):
        storage, offset, shape, stride, requires_grad, hooks = args[:6]
        if (
            isinstance(storage, _Storage)
            and _is_int(offset)
            and isinstance(shape, tuple)
            and isinstance(stride, tuple)
            and all(_is_int(x) for x in (*shape, *stride))
            and isinstance(requires_grad, bool)
            and hooks == {}
            and (len(args) == 6 or args[6] in (None, {}))
        ):
            return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))
        raise TorchFileError("malformed tensor record")
    raise TorchFileError(f"the file calls {func!r}, which is not allowed in a state dict")


def _is_int(x: object) -> bool:
    """A plain int of a sane size (LONG1 can encode arbitrarily large ones)."""
    return isinstance(x, int) and not isinstance(x, bool) and abs(x) < _MAX_INT


def _persistent_load(pid: object, storages: dict[str, _Storage]) -> _Storage:
    """Resolve ``("storage", type, key, location, numel, view_metadata)`` to a shared record."""
    if not (
        isinstance(pid, tuple)
        and len(pid) == 6
        and pid[0] == "storage"
        and isinstance(pid[1], np.dtype)
        and isinstance(pid[2], str)
        and isinstance(pid[3], str)
        and _is_int(pid[4])
        and pid[4] >= 0
    ):
        raise TorchFileError(f"unsupported persistent record {pid!r:.80}")
    if pid[5] is not None:
        raise TorchFileError("storage views (pre-0.4 files) are not supported")
    kind, key, numel = pid[1], pid[2], pid[4]
    known = storages.setdefault(key, _Storage(key, kind, numel))
    if known.kind != kind or known.numel != numel:
        raise TorchFileError(f"storage {key} is declared twice with different types or sizes")
    return known


def _build(state: object, target: dict[object, object]) -> None:
    """``OrderedDict.__setstate__``: a state dict carries only its ``_metadata`` (versions)."""
    if not (isinstance(state, dict) and set(state) <= {"_metadata"}):
        raise TorchFileError("malformed pickle: unexpected object state")
