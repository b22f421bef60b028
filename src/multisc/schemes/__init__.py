"""End-to-end schemes with one interface: ``prepare(image)`` (SNR-independent, cacheable)
and ``transmit(prepared, channels, generator)`` (one :class:`Reconstruction` per channel
condition). One registration per scheme (:class:`SchemeSpec`, :mod:`multisc.schemes.spec`); the
built-in ones in :mod:`multisc.schemes.registry`, others from plugins."""

from multisc.schemes.base import Prepared, Reconstruction, Scheme, working_image
from multisc.schemes.registry import SCHEMES, Components, SchemeOptions, build_scheme
from multisc.schemes.spec import SchemeSpec, get_spec, scheme_names, scheme_specs

__all__ = [
    "SCHEMES",
    "Components",
    "Prepared",
    "Reconstruction",
    "Scheme",
    "SchemeOptions",
    "SchemeSpec",
    "build_scheme",
    "get_spec",
    "scheme_names",
    "scheme_specs",
    "working_image",
]
