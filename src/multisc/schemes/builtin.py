"""The built-in schemes, one declaration each ([SchemeSpec][multisc.schemes.spec.SchemeSpec]).

Light to import (no torch, no Sionna, no transformers): each scheme names its builder
(``"multisc.schemes.registry:build_multisc"``), imported when the scheme is built, so
listing what exists (``multisc schemes list``, config checks, ``--help``) answers at once
and this declaration never imports the code that builds. The correctors and slice links
they choose from are registered beside their code:
[multisc.receiver.correctors][multisc.receiver.correctors] and
[multisc.schemes.slice_links][multisc.schemes.slice_links].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multisc.receiver.correctors import CORRECTOR_REGISTRY
from multisc.schemes.spec import SchemeSpec

if TYPE_CHECKING:
    from multisc.schemes.options import SchemeOptions


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


TEXT_LINK = ("text_modulation", "text_fec", "text_code_rate")
#: how multisc's block links differ ([BlockLinks][multisc.schemes.block_links.BlockLinks])
BLOCK_LINKS = ("link_snr_offsets_db", "link_snr_spread_db", "link_outage")
GENERATION = ("steps", "guidance", "generation_size", "ip_scale", "candidates", "select")
SLICE = ("slice_link", "slice_downsample", "slice_hevc_quality", "jscc_checkpoint")
#: the hevc-ldpc slice link's coding (read when the slice is encoded)
SLICE_CODING = ("bpg_modulation", "bpg_code_rate")
SEMANTIC_NEEDS = ("segmenter", "captioner", "generator", "ip_adapter")

#: the built-in schemes' declarations, in report order
# fmt: off
BUILTIN_SCHEMES: tuple[SchemeSpec, ...] = (
SchemeSpec(
    "multisc",
    "multisc.schemes.registry:build_multisc",
    "2x2 LLaVA captions, one digital link each, + the main-object slice (analog by "
    "default); BART correction, fusion, SD + IP-Adapter",
    needs=lambda o: _semantic_needs(SEMANTIC_NEEDS, o.corrector, o),
    options=("rows", "cols", *TEXT_LINK, *BLOCK_LINKS, *SLICE, "corrector", "positions",
             *GENERATION, "caption_tokens", "segment_size"),
    prepare_options=("rows", "cols", *SLICE, *SLICE_CODING, "caption_tokens", "segment_size"),
    semantic=True,
    order=10,
),
SchemeSpec(
    "single_text",
    "multisc.schemes.registry:build_single_text",
    "one LLaVA caption of the whole image + the slice; the same receiver",
    needs=lambda o: _semantic_needs(SEMANTIC_NEEDS, o.corrector, o),
    options=(*TEXT_LINK, *SLICE, "corrector", *GENERATION, "caption_tokens", "segment_size"),
    prepare_options=(*SLICE, *SLICE_CODING, "caption_tokens", "segment_size"),
    semantic=True,
    order=20,
),
SchemeSpec(
    "vlm_csc",
    "multisc.schemes.registry:build_vlm_csc",
    "one BLIP caption; text-only Stable Diffusion (no corrector by default)",
    needs=lambda o: _semantic_needs(("vlm_captioner", "generator"), o.vlm_corrector, o, "text"),
    options=(*TEXT_LINK, "vlm_corrector", "steps", "guidance", "generation_size",
             "candidates", "caption_tokens"),
    prepare_options=("caption_tokens",),
    semantic=True,
    order=30,
),
SchemeSpec(
    "bpg_ldpc",
    "multisc.schemes.registry:build_bpg_ldpc",
    "HEVC intra (BPG's compact stream) at the highest quality that fits the budget, 5G "
    "LDPC, QAM; any bit error = failure image",
    options=("budget", "bpg_modulation", "bpg_code_rate", "bpg_mcs", "failure_color"),
    prepare_options=("budget", "bpg_modulation", "bpg_code_rate", "bpg_mcs"),
    order=40,
    budget=True,
),
SchemeSpec(
    "deep_jscc",
    "multisc.schemes.registry:build_deep_jscc",
    "deep JSCC (Bourtsoulatze et al. 2019): the shipped checkpoint whose ratio fits the "
    "budget; its decoder",
    options=("budget", "jscc_checkpoint"),
    order=50,
    budget=True,
),
)
# fmt: on

#: the built-in schemes' names (plugins add theirs:
#: [scheme_names][multisc.schemes.catalog.scheme_names])
SCHEMES: tuple[str, ...] = tuple(spec.name for spec in BUILTIN_SCHEMES)
