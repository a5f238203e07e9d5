"""Small wording helpers shared by the messages of the core and the CLI.

:func:`display_path` is the one rule for showing a path (or any text made
from file names) to a person, on a terminal or in a picture.
"""

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


def display_path(text: str) -> str:
    """Make a path string safe to show to people, on a terminal too.

    Args:
        text: A path as text; non-UTF-8 bytes appear as lone surrogates (surrogateescape).

    Returns:
        The same text with every undecodable byte replaced by U+FFFD, and every
        control character (newline, tab, escape, C1 codes) written as a visible
        escape (``\\n``, ``\\x1b``): a file name can neither break a line of output
        into fake rows nor send a terminal escape sequence.
    """
    try:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # lone surrogates that did not come from surrogateescape
        shown = clean_surrogates(text)
    return _CONTROL.sub(_escape_control, shown)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
