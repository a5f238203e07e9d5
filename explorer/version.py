"""The installed version, in one place every layer may read."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("explorer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
