"""End-to-end schemes with one interface: ``prepare(image)`` (SNR-independent, cacheable)
and ``transmit(prepared, channels, generator)`` (one :class:`Reconstruction` per channel
condition). Registry by name in :mod:`multisc.schemes.registry`."""

from multisc.schemes.base import Reconstruction, Scheme, working_image
from multisc.schemes.registry import SCHEMES, Components, SchemeOptions, build_scheme

__all__ = [
    "SCHEMES",
    "Components",
    "Reconstruction",
    "Scheme",
    "SchemeOptions",
    "build_scheme",
    "working_image",
]
