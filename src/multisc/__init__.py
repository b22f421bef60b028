"""multisc: generative semantic image transmission (Multi-SC) and its baselines.

The package mirrors the data flow of a transmission: ``channel`` (physical layer),
``transmitter``, ``receiver``, ``schemes``, ``metrics``, ``experiment`` and ``report``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("multisc")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
