"""Domain errors. The CLI maps each to one clear line on stderr and an exit code."""

import errno


class ExplorerError(Exception):
    """Base class for every error explorer reports to a user."""

    exit_code = 1


class UsageError(ExplorerError):
    """A parameter or argument is out of range or inconsistent."""

    exit_code = 2


class IndexMissingError(ExplorerError):
    """No index exists at the given location."""


class IndexCorruptError(ExplorerError):
    """An index file is damaged, foreign or from an unknown schema version."""


class IndexLockedError(ExplorerError):
    """Another process is writing the index."""


class IncompatibleIndexError(ExplorerError):
    """The index was built with another backbone, layer or weights."""


class WeightsUnavailableError(ExplorerError):
    """Model weights could not be found, downloaded or read."""


class NoImagesError(ExplorerError):
    """A folder or list of paths held no readable image."""


class UnsafeIndexError(ExplorerError):
    """The index folder holds something explorer did not write (a symlink, a foreign file)."""


class DiskFullError(ExplorerError, OSError):
    """The disk filled up while the index was written (an ``OSError`` with ``ENOSPC``)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; says what was kept.

    A ``KeyboardInterrupt`` (not an :class:`ExplorerError`) so that code that
    lets interrupts through still does.
    """

    def __init__(self, message: str, *, saved: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.saved = saved
