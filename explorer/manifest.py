"""Parsing the index's JSON files into typed, validated values.

An index can be shared, so every JSON file in it is untrusted input: the
manifest, the image records, tags, the quarantine list, checkpoint metadata.
:func:`load_json` refuses NaN and infinities, nesting deeper than a bound and
non-object documents; :func:`from_json` builds any dataclass of plain fields
(``str``, ``int``, ``float``, ``bool``, ``X | None``, ``list[X]``,
``tuple[X, ...]``) after checking each field's type, so new optional fields
with defaults need no change here;
:func:`parse_manifest` checks the manifest's shape, numbers and file names.
Each failure is a :class:`ValueError` whose message says what is wrong; the
caller names the file and the rebuild command.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from explorer.store import GENERATION_NAME

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in any index JSON file."""
_MAX_INT = 2**63 - 1
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SHA256 = re.compile(r"[0-9a-f]{64}")
FILE_SUFFIX = {"images": "json", "thumbs": "bin", "pca": "npz", "classes": "npz", "analysis": "npz"}
"""Extension of each generation file by key (``.npy`` for the others)."""

T = TypeVar("T")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(data: bytes, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse a JSON object, refusing NaN/Infinity and nesting deeper than ``max_depth``.

    Raises:
        ValueError: Not JSON, not an object, too deep, or a non-finite number.
    """
    depth = _depth(data)
    if depth > max_depth:
        raise ValueError(f"nested {depth} levels deep (at most {max_depth})")
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:  # pragma: no cover - _depth bounds it first
        raise ValueError("nested too deep") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, found {type(value).__name__}")
    return value


def _depth(data: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings, without recursion."""
    bare = np.frombuffer(_STRINGS.sub(b'""', data), dtype=np.uint8)
    if not len(bare):
        return 0
    step = np.isin(bare, (0x5B, 0x7B)).astype(np.int64) - np.isin(bare, (0x5D, 0x7D))
    return int(np.cumsum(step).max(initial=0))


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it has the type ``hint`` describes (numbers finite and in range)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{where}: unexpected null")
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, found {value!r:.40}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _MAX_INT:
            raise ValueError(f"{where}: expected a whole number in range, found {value!r:.40}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, found {value!r:.40}")
        if not math.isfinite(value) or abs(value) > 1e300:
            raise ValueError(f"{where}: number out of range ({value!r:.40})")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected text, found {value!r:.40}")
        return value
    if typing.get_origin(hint) in (list, tuple):
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, found {type(value).__name__}")
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ValueError(f"{where}: expected {len(args)} items, found {len(value)}")
            items = [
                _check(v, a, f"{where}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        else:
            inner = args[0] if args else Any
            items = [_check(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if typing.get_origin(hint) is list else tuple(items)
    if hint is Any:
        return value
    raise ValueError(f"{where}: field type {hint!r} cannot be read from JSON")


def from_json(cls: type[T], data: Any, *, where: str = "") -> T:
    """Build the dataclass ``cls`` from a JSON object, checking every field's type.

    A field with a default may be absent; a field without one must be present;
    a key that is no field is refused.

    Raises:
        ValueError: Naming the field that is missing, unknown or of the wrong type.
    """
    name = where or cls.__name__
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected an object, found {type(data).__name__}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _check(data[f.name], hints[f.name], f"{name}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"{name}: missing field {f.name!r}")
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(f"{name}: unknown field {unknown[0]!r:.60}")
    return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def list_from_json(cls: type[T], data: Any, *, where: str) -> list[T]:
    """:func:`from_json` over a JSON array."""
    if not isinstance(data, list):
        raise ValueError(f"{where}: expected a list, found {type(data).__name__}")
    return [from_json(cls, item, where=f"{where}[{i}]") for i, item in enumerate(data)]


# ---------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class FileEntry:
    """One data file of a generation, as the manifest records it."""

    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The validated content of ``manifest.json``."""

    schema: int
    generation: str
    root: str
    count: int
    dim: int
    pca_components: int
    files: dict[str, FileEntry]
    backbone: dict[str, Any]
    analysis: dict[str, Any] | None
    meta: dict[str, Any]


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    """Check the manifest's keys, types, numbers and file names.

    Every file name must be a plain name of the generation pattern
    (``<key>-<14 digits>-<6 hex>.<ext>``, the extension fixed by the key): no
    folder, no ``..``, nothing outside the index folder.

    Raises:
        ValueError: What is wrong, first problem only.
    """
    schema = _check(raw.get("schema"), int, "schema")
    if schema < 1:
        raise ValueError(f"schema {schema} is not a schema version")
    files_raw = raw.get("files")
    if not isinstance(files_raw, dict) or not files_raw:
        raise ValueError("files: expected an object naming the data files")
    files: dict[str, FileEntry] = {}
    for key, entry in files_raw.items():
        info = from_json(FileEntry, entry, where=f"files.{key:.40}")
        found = GENERATION_NAME.fullmatch(info.name)
        ext = FILE_SUFFIX.get(key, "npy")
        if found is None or found["key"] != key or not info.name.endswith(f".{ext}"):
            raise ValueError(f"files.{key:.40}: {info.name!r:.80} is not a file name of the index")
        if not 0 <= info.bytes <= _MAX_INT or _SHA256.fullmatch(info.sha256) is None:
            raise ValueError(f"files.{key:.40}: bad size or sha256")
        files[key] = info
    for key in ("images", "features", "vectors", "pca"):
        if key not in files:
            raise ValueError(f"files: no {key} file")
    backbone = raw.get("backbone")
    if not isinstance(backbone, dict):
        raise ValueError("backbone: expected an object")
    dim = _check(backbone.get("dim"), int, "backbone.dim")
    count = _check(raw.get("count"), int, "count")
    components = _check(raw.get("pca_components"), int, "pca_components")
    if not 0 < dim <= 1 << 20 or not 0 <= count <= 1 << 40 or not 0 <= components <= dim:
        raise ValueError("count, dim or pca_components out of range")
    analysis = raw.get("analysis")
    if analysis is not None and not isinstance(analysis, dict):
        raise ValueError("analysis: expected an object or null")
    meta = raw.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError("meta: expected an object")
    _check(meta.get("seed", 0), int, "meta.seed")
    return Manifest(
        schema=schema,
        generation=_check(raw.get("generation"), str, "generation"),
        root=_check(raw.get("root"), str, "root"),
        count=count,
        dim=_check(raw.get("dim", dim), int, "dim"),
        pca_components=components,
        files=files,
        backbone=backbone,
        analysis=analysis,
        meta=meta,
    )
