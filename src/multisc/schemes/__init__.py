"""End-to-end schemes with one interface: ``prepare(image)`` (SNR-independent, cacheable)
and ``transmit(prepared, channels, generator)`` (one
[Reconstruction][multisc.schemes.base.Reconstruction] per channel
condition). One registration per scheme ([SchemeSpec][multisc.schemes.spec.SchemeSpec],
[multisc.schemes.spec][multisc.schemes.spec]); the
built-in ones in [multisc.schemes.builtin][multisc.schemes.builtin], others from plugins.

The names below are imported on first use: ``import multisc.schemes.spec`` (what exists)
loads neither torch nor Sionna; ``multisc.schemes.Components`` (what runs) does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from multisc.lazy import lazy_exports

if TYPE_CHECKING:
    from multisc.schemes.base import Prepared, Reconstruction, Scheme, working_image
    from multisc.schemes.builtin import SCHEMES
    from multisc.schemes.catalog import get_spec, scheme_names, scheme_specs
    from multisc.schemes.options import SchemeOptions
    from multisc.schemes.registry import Components, build_scheme
    from multisc.schemes.spec import SchemeSpec

_WHERE = {
    "Prepared": "base",
    "Reconstruction": "base",
    "Scheme": "base",
    "working_image": "base",
    "SCHEMES": "builtin",
    "SchemeOptions": "options",
    "Components": "registry",
    "build_scheme": "registry",
    "SchemeSpec": "spec",
    "get_spec": "catalog",
    "scheme_names": "catalog",
    "scheme_specs": "catalog",
}

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


__getattr__ = lazy_exports(__name__, _WHERE)
