"""Parsing the index's JSON files into typed, validated values.

An index can be shared, so every JSON file in it is untrusted input: the
manifest, the image records, tags, the quarantine list, checkpoint metadata.
:func:`load_json` refuses NaN and infinities, nesting deeper than a bound and
non-object documents; :func:`from_json` builds any dataclass of plain fields
(``str``, ``int``, ``float``, ``bool``, ``X | None``, ``list[X]``,
``tuple[X, ...]``) after checking each field's type, so new optional fields
with defaults need no change here;
:func:`parse_manifest` checks the manifest's shape, numbers and file names;
:func:`seal_manifest` and :func:`manifest_digest` write and check its checksum.
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

from explorer.fs import sha256_hex
from explorer.store.folder import GENERATION_NAME

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in any index JSON file."""
_MAX_INT = 2**63 - 1
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SHA256 = re.compile(r"[0-9a-f]{64}")
FILE_SUFFIX = {"images": "json", "thumbs": "bin", "pca": "npz", "classes": "npz", "analysis": "npz"}
"""Extension of each generation file by key (``.npy`` for the others)."""

MANIFEST = "manifest.json"
SCHEMA_VERSION = 2
"""Schema written; a reader refuses a newer one and still opens schema 1."""

T = TypeVar("T")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(data: bytes, *, max_depth: int | None = MAX_DEPTH) -> dict[str, Any]:
    """Parse a JSON object, refusing NaN/Infinity and nesting deeper than ``max_depth``.

    Args:
        data: The file's bytes.
        max_depth: Deepest nesting allowed; ``None`` skips the scan (for large
            files whose every value is then checked by :func:`from_json`, which
            refuses nested values; parsing still refuses absurd depths).

    Raises:
        ValueError: Not JSON, not an object, too deep, or a non-finite number.
    """
    if max_depth is not None:
        depth = _depth(data)
        if depth > max_depth:
            raise ValueError(f"nested {depth} levels deep (at most {max_depth})")
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
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


class _Bad(Exception):
    """A value of the wrong type; the caller adds where it was."""


Checker = typing.Callable[[Any], Any]


def _checker(hint: Any) -> Checker:
    """A function returning its argument if it has the type ``hint`` describes, else raising.

    Numbers must be finite and in range; ``bool`` is not an ``int``.
    """
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [_checker(o) for o in typing.get_args(hint) if o is not type(None)]
        nullable = type(None) in typing.get_args(hint)

        def union(value: Any) -> Any:
            if value is None and nullable:
                return None
            error = _Bad("unexpected null")
            for option in options:
                try:
                    return option(value)
                except _Bad as exc:
                    error = exc
            raise error

        return union
    if hint is bool:
        return _exactly(bool, "true or false")
    if hint is int:

        def integer(value: Any) -> Any:
            if type(value) is not int or not -_MAX_INT <= value <= _MAX_INT:
                raise _Bad(f"expected a whole number in range, found {value!r:.40}")
            return value

        return integer
    if hint is float:

        def number(value: Any) -> Any:
            if type(value) is not float:
                if type(value) is not int:
                    raise _Bad(f"expected a number, found {value!r:.40}")
                value = float(value)
            if not math.isfinite(value) or abs(value) > 1e300:
                raise _Bad(f"number out of range ({value!r:.40})")
            return value

        return number
    if hint is str:
        return _exactly(str, "text")
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        args = typing.get_args(hint)
        fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
        items = [_checker(a) for a in args] if fixed else [_checker(args[0] if args else Any)]

        def sequence(value: Any) -> Any:
            if type(value) is not list:
                raise _Bad(f"expected a list, found {type(value).__name__}")
            if fixed and len(value) != len(items):
                raise _Bad(f"expected {len(items)} items, found {len(value)}")
            out = [(items[i] if fixed else items[0])(v) for i, v in enumerate(value)]
            return out if origin is list else tuple(out)

        return sequence
    if hint is Any:
        return lambda value: value
    raise TypeError(f"field type {hint!r} cannot be read from JSON")


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it has the type ``hint`` describes (numbers finite and in range)."""
    try:
        return _checker(hint)(value)
    except _Bad as exc:
        raise ValueError(f"{where}: {exc}") from None


def _exactly(kind: type, what: str) -> Checker:
    """A checker that passes a value of type ``kind`` itself (no subclass) and refuses others."""

    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _Bad(f"expected {what}, found {value!r:.40}")
        return value

    return check


_Plan = tuple[dict[str, Checker], frozenset[str]]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    """Each field's checker, and the fields that must be present."""
    if cls not in _PLANS:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        checkers = {f.name: _checker(hints[f.name]) for f in fields}
        required = frozenset(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        _PLANS[cls] = (checkers, required)
    return _PLANS[cls]


def from_json(cls: type[T], data: Any, *, where: str = "") -> T:
    """Build the dataclass ``cls`` from a JSON object, checking every field's type.

    A field with a default may be absent; a field without one must be present;
    a key that is no field is refused.

    Raises:
        ValueError: Naming the field that is missing, unknown or of the wrong type.
    """
    checkers, required = _plan(cls)
    if type(data) is not dict:
        raise ValueError(
            f"{where or cls.__name__}: expected an object, found {type(data).__name__}"
        )
    values: dict[str, Any] = {}
    try:
        for key, value in data.items():
            check = checkers.get(key)
            if check is None:
                raise ValueError(f"{where or cls.__name__}: unknown field {key!r:.60}")
            values[key] = check(value)
    except _Bad as exc:
        raise ValueError(f"{where or cls.__name__}.{key}: {exc}") from None
    if len(values) < len(required) or not required.issubset(values):
        missing = sorted(required - set(values))[0]
        raise ValueError(f"{where or cls.__name__}: missing field {missing!r}")
    return cls(**values)


def list_from_json(cls: type[T], data: Any, *, where: str) -> list[T]:
    """:func:`from_json` over a JSON array.

    Checks a whole column at a time where every field has a plain type (about
    as fast as building the records unchecked: 100,000 image records are read
    when every query opens the index); otherwise, or to name a bad row, one
    record at a time.
    """
    if type(data) is not list:
        raise ValueError(f"{where}: expected a list, found {type(data).__name__}")
    if _columns_ok(cls, data):
        return [cls(**item) for item in data]
    try:
        return [from_json(cls, item, where=where) for item in data]
    except ValueError:
        for i, item in enumerate(data):  # the slow way, only to name the row
            from_json(cls, item, where=f"{where}[{i}]")
        raise


_SIMPLE: dict[Any, frozenset[type]] = {
    int: frozenset({int}),
    str: frozenset({str}),
    float: frozenset({float}),
    bool: frozenset({bool}),
    int | None: frozenset({int, type(None)}),
    str | None: frozenset({str, type(None)}),
    float | None: frozenset({float, type(None)}),
    bool | None: frozenset({bool, type(None)}),
}


def _columns_ok(cls: type, data: list[Any]) -> bool:
    """Whether every item is valid, checked column by column; False means "look closer"."""
    if not data:
        return True
    hints = typing.get_type_hints(cls)
    allowed = {name: _SIMPLE.get(hint) for name, hint in hints.items()}
    if None in allowed.values() or set(map(type, data)) != {dict}:
        return False
    _, required = _plan(cls)
    for shape in set(map(frozenset, data)):
        if not required <= shape or not shape <= allowed.keys():
            return False
    for name, types_ in allowed.items():
        assert types_ is not None
        column = [item[name] for item in data if name in item]
        if not set(map(type, column)) <= types_:
            return False
        numbers = [v for v in column if v is not None] if type(None) in types_ else column
        if not numbers:
            continue
        if int in types_ and not -_MAX_INT <= min(numbers) <= max(numbers) <= _MAX_INT:
            return False
        if float in types_ and not (
            all(map(math.isfinite, numbers)) and max(map(abs, numbers)) <= 1e300
        ):
            return False
    return True


# ---------------------------------------------------------------- the manifest


def seal_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as JSON, sealed with the sha256 of its own content (``checksum``)."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return json.dumps({**body, "checksum": manifest_digest(body)}, indent=1).encode()


def manifest_digest(body: dict[str, Any]) -> str:
    """The checksum of a manifest without its ``checksum`` key (canonical JSON)."""
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


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
