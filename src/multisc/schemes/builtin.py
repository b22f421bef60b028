"""The built-in schemes, correctors and slice links: one registration each.

Light to import (no torch, no Sionna, no transformers): each builder imports the code it
builds on first use, so listing what exists (``multisc schemes list``, config checks,
``--help``) answers at once. The building itself lives in
[multisc.schemes.registry][multisc.schemes.registry]
(schemes, from the shared [Components][multisc.schemes.registry.Components]),
[multisc.receiver.correction][multisc.receiver.correction] (correctors) and
[multisc.schemes.slices][multisc.schemes.slices] (slice
links).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from multisc.parts import PartRegistry, PartSpec
from multisc.schemes.spec import SchemeSpec, register_scheme

if TYPE_CHECKING:
    from multisc.schemes.options import SchemeOptions
    from multisc.schemes.registry import Components

#: every corrector, one registration each: ``build(models_dir, device) -> Corrector``;
#: packages add theirs through the entry-point group ``multisc.correctors``
CORRECTOR_REGISTRY = PartRegistry("corrector", "multisc.correctors")

#: every slice link, one registration each: ``build(components) -> SliceLink``; packages
#: add theirs through the entry-point group ``multisc.slice_links``
SLICE_LINK_REGISTRY = PartRegistry("slice link", "multisc.slice_links")


def _bart(models_dir: Any, device: Any) -> Any:
    from multisc.receiver.correction import BartCorrector

    return BartCorrector.from_pretrained(models_dir, device)


def _symspell(models_dir: Any, device: Any) -> Any:
    from multisc.receiver.correction import SymSpellCorrector

    return SymSpellCorrector()


def _no_corrector(models_dir: Any, device: Any) -> Any:
    from multisc.receiver.correction import NoCorrector

    return NoCorrector()


CORRECTOR_REGISTRY.register(PartSpec(
    "bart",
    _bart,
    "BART seq2seq spelling correction (the paper's; fine-tune it with `multisc corrector`)",
    needs=("corrector",),
))  # fmt: skip
CORRECTOR_REGISTRY.register(PartSpec(
    "symspell",
    _symspell,
    "SymSpell with a bigram language model over its bundled English dictionary",
))  # fmt: skip
CORRECTOR_REGISTRY.register(PartSpec("none", _no_corrector, "texts as received"))


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


def _with_corrector(base: tuple[str, ...], corrector: str) -> tuple[str, ...]:
    return (*base, *CORRECTOR_REGISTRY.get(corrector).needs)


def _semantic_needs(
    base: tuple[str, ...], corrector: str, options: SchemeOptions, select: str | None = None
) -> tuple[str, ...]:
    """A semantic scheme's components: ``base``, its corrector's, and CLIP when it
    chooses among candidates by text."""
    select = options.select if select is None else select
    clip = ("clip",) if options.candidates > 1 and "text" in select else ()
    return (*_with_corrector(base, corrector), *clip)


def _semantic(name: str):
    def build(components: Components) -> Any:
        from multisc.schemes.registry import build_semantic

        return build_semantic(name, components)

    return build


def _bpg_ldpc(components: Components) -> Any:
    from multisc.schemes.registry import build_bpg_ldpc

    return build_bpg_ldpc(components)


def _deep_jscc(components: Components) -> Any:
    from multisc.schemes.registry import build_deep_jscc

    return build_deep_jscc(components)


TEXT_LINK = ("text_modulation", "text_fec", "text_code_rate")
GENERATION = ("steps", "guidance", "generation_size", "ip_scale", "candidates", "select")
SLICE = ("slice_link", "slice_downsample", "slice_hevc_quality", "jscc_checkpoint")
#: the hevc-ldpc slice link's coding (read when the slice is encoded)
SLICE_CODING = ("bpg_modulation", "bpg_code_rate")
SEMANTIC_NEEDS = ("segmenter", "captioner", "generator", "ip_adapter")

register_scheme(SchemeSpec(
    "multisc",
    _semantic("multisc"),
    "2x2 LLaVA captions, one digital link each, + the main-object slice (analog by "
    "default); BART correction, fusion, SD + IP-Adapter",
    needs=lambda o: _semantic_needs(SEMANTIC_NEEDS, o.corrector, o),
    options=("rows", "cols", *TEXT_LINK, *SLICE, "corrector", "positions", *GENERATION,
             "caption_tokens", "segment_size"),
    prepare_options=("rows", "cols", *SLICE, *SLICE_CODING, "caption_tokens", "segment_size"),
    semantic=True,
    order=10,
))  # fmt: skip
register_scheme(SchemeSpec(
    "single_text",
    _semantic("single_text"),
    "one LLaVA caption of the whole image + the slice; the same receiver",
    needs=lambda o: _semantic_needs(SEMANTIC_NEEDS, o.corrector, o),
    options=(*TEXT_LINK, *SLICE, "corrector", *GENERATION, "caption_tokens", "segment_size"),
    prepare_options=(*SLICE, *SLICE_CODING, "caption_tokens", "segment_size"),
    semantic=True,
    order=20,
))  # fmt: skip
register_scheme(SchemeSpec(
    "vlm_csc",
    _semantic("vlm_csc"),
    "one BLIP caption; text-only Stable Diffusion (no corrector by default)",
    needs=lambda o: _semantic_needs(("vlm_captioner", "generator"), o.vlm_corrector, o, "text"),
    options=(*TEXT_LINK, "vlm_corrector", "steps", "guidance", "generation_size",
             "candidates", "caption_tokens"),
    prepare_options=("caption_tokens",),
    semantic=True,
    order=30,
))  # fmt: skip
register_scheme(SchemeSpec(
    "bpg_ldpc",
    _bpg_ldpc,
    "HEVC intra (BPG's compact stream) at the highest quality that fits the budget, 5G "
    "LDPC, QAM; any bit error = failure image",
    options=("budget", "bpg_modulation", "bpg_code_rate", "bpg_mcs", "failure_color"),
    prepare_options=("budget", "bpg_modulation", "bpg_code_rate", "bpg_mcs"),
    order=40,
    budget=True,
))  # fmt: skip
register_scheme(SchemeSpec(
    "deep_jscc",
    _deep_jscc,
    "deep JSCC (Bourtsoulatze et al. 2019): the shipped checkpoint whose ratio fits the "
    "budget; its decoder",
    options=("budget", "jscc_checkpoint"),
    order=50,
    budget=True,
))  # fmt: skip

#: the built-in schemes (plugins add theirs: [scheme_names][multisc.schemes.spec.scheme_names])
SCHEMES: tuple[str, ...] = ("multisc", "single_text", "vlm_csc", "bpg_ldpc", "deep_jscc")
