"""The links the main-object slice can take (``slice_link:``), one registration each;
packages add theirs through the entry-point group ``multisc.slice_links``.

Light to import (no torch, no Sionna): each builder imports its link
([multisc.schemes.slices][multisc.schemes.slices]) when it is built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from multisc.parts import PartRegistry, PartSpec

if TYPE_CHECKING:
    from multisc.schemes.registry import Components

#: every slice link, one registration each: ``build(components) -> SliceLink``
SLICE_LINK_REGISTRY = PartRegistry("slice link", "multisc.slice_links")


def _analog_slice(components: Components) -> Any:
    from multisc.schemes.slices import AnalogSlice

    return AnalogSlice(components.options.slice_downsample)


def _jscc_slice(components: Components) -> Any:
    from multisc.schemes.slices import JsccSlice

    o = components.options
    return JsccSlice(components.jscc(o.jscc_checkpoint)[0], o.slice_downsample)


def _hevc_ldpc_slice(components: Components) -> Any:
    from multisc.channel import DigitalLink
    from multisc.schemes.slices import HevcLdpcSlice

    o = components.options
    link = DigitalLink(o.bpg_modulation, "ldpc", o.bpg_code_rate, device=components.device)
    return HevcLdpcSlice(link, o.slice_hevc_quality)


SLICE_LINK_REGISTRY.register(PartSpec(
    "analog",
    _analog_slice,
    "the paper's: the slice downsampled (slice_downsample), sent as analog symbols",
))  # fmt: skip
SLICE_LINK_REGISTRY.register(PartSpec(
    "jscc",
    _jscc_slice,
    "the downsampled slice through deep JSCC (the highest-ratio checkpoint)",
))  # fmt: skip
SLICE_LINK_REGISTRY.register(PartSpec(
    "hevc-ldpc",
    _hevc_ldpc_slice,
    "HEVC intra (slice_hevc_quality) + 5G LDPC + QAM (bpg_modulation, bpg_code_rate); "
    "lost on any bit error",
))  # fmt: skip
