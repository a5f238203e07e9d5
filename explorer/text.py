"""Small wording helpers shared by the messages of the core and the CLI."""

from __future__ import annotations

import re


def plural(n: int, word: str, many: str | None = None) -> str:
    """``word`` for one, else ``many`` (default ``word + "s"``)."""
    return word if n == 1 else (many or word + "s")


def count(n: int, word: str, many: str | None = None) -> str:
    """``"1 image"``, ``"2 images"``."""
    return f"{n} {plural(n, word, many)}"


def grouped_count(n: int, word: str, many: str | None = None) -> str:
    """``"1 image"``, ``"1,204 images"``: :func:`count` with thousands separators."""
    return f"{n:,} {plural(n, word, many)}"


def clean_surrogates(text: str) -> str:
    """Replace lone surrogates (undecodable file-name bytes) with U+FFFD.

    Args:
        text: Any text; a path decoded with ``surrogateescape`` holds one lone
            surrogate per byte that is not UTF-8.

    Returns:
        The same text, safe to encode as UTF-8 (e.g. into the report's JSON).
    """
    return _SURROGATES.sub("\ufffd", str(text))


_SURROGATES = re.compile("[\ud800-\udfff]")
