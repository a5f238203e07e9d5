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
function. This module instead interprets the few pickle opcodes these streams
use with a small machine of its own: ``GLOBAL`` resolves only the exact names
listed in :data:`_ALLOWED_GLOBALS` to inert stand-ins, ``REDUCE`` only
"calls" those stand-ins, and any other global or opcode stops the read with
:class:`TorchFileError` before anything is constructed. The file's SHA-256 is
checked before a single byte is interpreted.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explorer.errors import WeightsUnavailableError

__all__ = ["TorchFileError", "read_state_dict"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
FORMAT_VERSION = 1001
_ZIP_SIGNATURE = b"PK\x03\x04"
_MAX_PROTOCOL = 2  # the legacy writer used protocol 2; newer opcodes are not needed
_MAX_INT = 1 << 48  # bound on sizes, strides and offsets


class TorchFileError(WeightsUnavailableError):
    """A ``.pth`` file is not the expected file, or holds something this reader refuses."""


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: only a dtype."""

    name: str
    dtype: str


@dataclass(frozen=True)
class _Callable:
    """Stand-in for an allowed callable global (``OrderedDict``, ``_rebuild_tensor_v2``)."""

    name: str


_ORDERED_DICT = _Callable("collections.OrderedDict")
_REBUILD_TENSOR = _Callable("torch._utils._rebuild_tensor_v2")

_STORAGE_DTYPES = {
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
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


@dataclass
class _Storage:
    """One storage record: its declared type and length, then its data once read."""

    key: str
    kind: _StorageType
    numel: int
    data: NDArray[Any] | None = None


@dataclass(frozen=True)
class _TensorRef:
    """What ``_rebuild_tensor_v2`` would have built: a strided view of a storage."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _Mark:
    """The MARK opcode's sentinel on the stack."""


_MARK = _Mark()


class _Cursor:
    """A read position in the file's bytes that never reads past the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TorchFileError(f"the file ends early (wanted {n} bytes at offset {self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little", signed=False)


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
    actual = hashlib.sha256(data).hexdigest()
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
    cursor = _Cursor(data)
    storages: dict[str, _Storage] = {}
    if _run(cursor, storages) != MAGIC_NUMBER:
        raise TorchFileError("not a PyTorch legacy file (wrong magic number)")
    version = _run(cursor, storages)
    if version != FORMAT_VERSION:
        raise TorchFileError(f"unsupported PyTorch legacy format version {version!r}")
    sys_info = _run(cursor, storages)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise TorchFileError("only little-endian files are supported")
    state = _run(cursor, storages)
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, _TensorRef) for k, v in state.items()
    ):
        raise TorchFileError("the file does not hold a state dict of tensors")
    keys = _run(cursor, storages)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise TorchFileError("the storage key list is malformed")
    _read_storages(cursor, storages, keys)
    if cursor.pos != len(data):
        raise TorchFileError(f"{len(data) - cursor.pos} unexpected bytes after the last storage")
    return {name: _materialise(ref) for name, ref in state.items()}


def _read_storages(cursor: _Cursor, storages: dict[str, _Storage], keys: list[str]) -> None:
    if sorted(keys) != sorted(storages) or len(set(keys)) != len(keys):
        raise TorchFileError("the storage key list does not match the tensors' storages")
    for key in keys:
        storage = storages[key]
        numel = cursor.uint(8)
        if numel != storage.numel:
            raise TorchFileError(
                f"storage {key} holds {numel} elements, its record says {storage.numel}"
            )
        dtype = np.dtype(storage.kind.dtype)
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


def _run(cursor: _Cursor, storages: dict[str, _Storage]) -> object:
    """Interpret one pickle stream up to its STOP opcode and return its value."""
    stack: list[object] = []
    marks: list[int] = []
    memo: dict[int, object] = {}

    def pop() -> object:
        if len(stack) <= (marks[-1] if marks else 0):
            raise TorchFileError("malformed pickle: stack underflow")
        return stack.pop()

    def pop_mark() -> list[object]:
        if not marks:
            raise TorchFileError("malformed pickle: no MARK")
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def top(kind: type) -> Any:
        if not stack or not isinstance(stack[-1], kind):
            raise TorchFileError(f"malformed pickle: expected a {kind.__name__} on the stack")
        return stack[-1]

    while True:
        at = cursor.pos
        op = cursor.take(1)
        if op == b"\x80":  # PROTO
            if cursor.uint(1) > _MAX_PROTOCOL:
                raise TorchFileError(f"unsupported pickle protocol at offset {at}")
        elif op == b".":  # STOP
            if len(stack) != 1 or marks:
                raise TorchFileError("malformed pickle: STOP with a stack of other than one item")
            return stack[0]
        elif op == b"(":  # MARK
            marks.append(len(stack))
        elif op == b"N":  # NONE
            stack.append(None)
        elif op in (b"\x88", b"\x89"):  # NEWTRUE, NEWFALSE
            stack.append(op == b"\x88")
        elif op == b"K":  # BININT1
            stack.append(cursor.uint(1))
        elif op == b"M":  # BININT2
            stack.append(cursor.uint(2))
        elif op == b"J":  # BININT
            stack.append(int.from_bytes(cursor.take(4), "little", signed=True))
        elif op == b"\x8a":  # LONG1
            stack.append(int.from_bytes(cursor.take(cursor.uint(1)), "little", signed=True))
        elif op == b"G":  # BINFLOAT
            stack.append(struct.unpack(">d", cursor.take(8))[0])
        elif op == b"X":  # BINUNICODE
            try:
                stack.append(cursor.take(cursor.uint(4)).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise TorchFileError(f"malformed pickle: bad UTF-8 at offset {at}") from exc
        elif op == b")":  # EMPTY_TUPLE
            stack.append(())
        elif op in (b"\x85", b"\x86", b"\x87"):  # TUPLE1, TUPLE2, TUPLE3
            n = op[0] - 0x84
            items = [pop() for _ in range(n)][::-1]
            stack.append(tuple(items))
        elif op == b"t":  # TUPLE
            stack.append(tuple(pop_mark()))
        elif op == b"]":  # EMPTY_LIST
            stack.append([])
        elif op == b"a":  # APPEND
            value = pop()
            top(list).append(value)
        elif op == b"e":  # APPENDS
            values = pop_mark()
            top(list).extend(values)
        elif op == b"}":  # EMPTY_DICT
            stack.append({})
        elif op == b"s":  # SETITEM
            value = pop()
            key = pop()
            _set_item(top(dict), key, value)
        elif op == b"u":  # SETITEMS
            pairs = pop_mark()
            target = top(dict)
            if len(pairs) % 2:
                raise TorchFileError("malformed pickle: SETITEMS with an odd item count")
            for key, value in zip(pairs[::2], pairs[1::2], strict=True):
                _set_item(target, key, value)
        elif op in (b"q", b"r"):  # BINPUT, LONG_BINPUT
            if not stack:
                raise TorchFileError("malformed pickle: PUT on an empty stack")
            memo[cursor.uint(1 if op == b"q" else 4)] = stack[-1]
        elif op in (b"h", b"j"):  # BINGET, LONG_BINGET
            slot = cursor.uint(1 if op == b"h" else 4)
            if slot not in memo:
                raise TorchFileError(f"malformed pickle: GET of unknown memo slot {slot}")
            stack.append(memo[slot])
        elif op == b"c":  # GLOBAL
            stack.append(_find_global(_line(cursor), _line(cursor)))
        elif op == b"R":  # REDUCE
            args = pop()
            func = pop()
            stack.append(_reduce(func, args))
        elif op == b"Q":  # BINPERSID
            stack.append(_persistent_load(pop(), storages))
        elif op == b"b":  # BUILD
            state = pop()
            _build(top(dict), state)
        else:
            raise TorchFileError(f"unsupported pickle opcode {op!r} at offset {at}")


def _line(cursor: _Cursor) -> str:
    end = cursor.data.find(b"\n", cursor.pos, cursor.pos + 256)
    if end < 0:
        raise TorchFileError("malformed pickle: unterminated GLOBAL name")
    text = cursor.take(end - cursor.pos).decode("ascii", errors="replace")
    cursor.take(1)
    return text


def _find_global(module: str, name: str) -> object:
    try:
        return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
        raise TorchFileError(
            f"the file refers to {module}.{name}, which is not allowed in a state dict"
        ) from None


def _set_item(target: dict[object, object], key: object, value: object) -> None:
    if not isinstance(key, str | int):
        raise TorchFileError(f"malformed pickle: a dict key of type {type(key).__name__}")
    target[key] = value


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
        and isinstance(pid[1], _StorageType)
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


def _build(target: dict[object, object], state: object) -> None:
    """``OrderedDict.__setstate__``: a state dict carries only its ``_metadata`` (versions)."""
    if not (isinstance(state, dict) and set(state) <= {"_metadata"}):
        raise TorchFileError("malformed pickle: unexpected object state")
