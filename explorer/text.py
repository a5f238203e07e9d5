"""Small wording helpers shared by the messages of the core and the CLI."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``word`` for one, else ``many`` (default ``word + "s"``)."""
    return word if n == 1 else (many or word + "s")


def count(n: int, word: str, many: str | None = None) -> str:
    """``"1 image"``, ``"2 images"``."""
    return f"{n} {plural(n, word, many)}"
