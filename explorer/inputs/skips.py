"""Why a file found in a photo folder was not indexed (INPUTS.md).

The reason codes are stored in the index and shown in summaries; the scan
(:mod:`explorer.inputs.scan`) and the decoder (:mod:`explorer.inputs.decode`)
both report with them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class SkipReason(str, enum.Enum):
    """Why a file was not indexed; the value is the stable code stored in the index."""

    EMPTY_FILE = "empty_file"
    NOT_AN_IMAGE = "not_an_image"
    TRUNCATED = "truncated"
    DECODE_ERROR = "decode_error"
    TOO_LARGE = "too_large"
    DANGLING_LINK = "dangling_link"
    UNREADABLE_FILE = "unreadable_file"
    NOT_REGULAR_FILE = "not_regular_file"
    VANISHED = "vanished"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was found but not indexed."""

    path: Path
    reason: SkipReason
    detail: str = ""


class Skip(Exception):
    """Carries a skip reason out of the decoding steps (never out of :func:`load_image`)."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def describe(exc: BaseException) -> str:
    """An exception as a short detail for a skip: its type and message, at most 200 characters."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"
