"""explorer: content-based image retrieval and visual clustering.

Importing this package is cheap: TensorFlow, umap and bokeh are imported only
inside the functions that need them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("explorer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
