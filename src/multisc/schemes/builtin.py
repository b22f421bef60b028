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
from multisc.schemes.roles import part_needs
from multisc.schemes.spec import SchemeSpec

if TYPE_CHECKING:
    from multisc.schemes.options import SchemeOptions


def _semantic_needs(
    parts: tuple[tuple[str, str], ...],
    corrector: str,
    options: SchemeOptions,
    select: str | None = None,
) -> tuple[str, ...]:
    """A semantic scheme's components: those of its parts (``(role, entry)`` pairs), its
    corrector's, and CLIP when it chooses among candidates by text."""
    select = options.select if select is None else select
    clip = ("clip",) if options.candidates > 1 and "text" in select else ()
    loaded = [name for role, entry in parts for name in part_needs(role, entry)]
    return tuple(dict.fromkeys((*loaded, *CORRECTOR_REGISTRY.get(corrector).needs, *clip)))


def _multi_text_needs(options: SchemeOptions) -> tuple[str, ...]:
    """multisc's and single_text's components: segmenter, captioner, generator and
    IP-Adapter as the options name them, the corrector's, CLIP if it selects by text."""
    o = options
    parts = (("segmenter", o.segmenter), ("captioner", o.captioner),
             ("generator", o.generator), ("ip_adapter", o.ip_adapter))  # fmt: skip
    return _semantic_needs(parts, o.corrector, o)


def _vlm_csc_needs(options: SchemeOptions) -> tuple[str, ...]:
    o = options
    parts = (("captioner", o.vlm_captioner), ("generator", o.generator))
    return _semantic_needs(parts, o.vlm_corrector, o, "text")


TEXT_LINK = ("text_modulation", "text_fec", "text_code_rate")
#: how multisc's block links differ ([BlockLinks][multisc.schemes.block_links.BlockLinks])
BLOCK_LINKS = ("link_snr_offsets_db", "link_snr_spread_db", "link_outage")
GENERATION = ("steps", "guidance", "generation_size", "ip_scale", "candidates", "select")
SLICE = ("slice_link", "slice_downsample", "slice_hevc_quality", "jscc_checkpoint")
#: the hevc-ldpc slice link's coding (read when the slice is encoded)
SLICE_CODING = ("bpg_modulation", "bpg_code_rate")
#: the pretrained parts multisc and single_text choose (their registries:
#: [multisc.schemes.roles][multisc.schemes.roles])
PARTS = ("segmenter", "captioner", "generator", "ip_adapter")

#: the built-in schemes' declarations, in report order
# fmt: off
BUILTIN_SCHEMES: tuple[SchemeSpec, ...] = (
SchemeSpec(
    "multisc",
    "multisc.schemes.registry:build_multisc",
    "2x2 captions (the paper's LLaVA by default), one digital link each, + the main-object "
    "slice (analog by default); BART correction, fusion, SD + IP-Adapter",
    needs=_multi_text_needs,
    options=("rows", "cols", *PARTS, *TEXT_LINK, *BLOCK_LINKS, *SLICE, "corrector",
             "positions", *GENERATION, "caption_tokens", "segment_size"),
    prepare_options=("rows", "cols", "segmenter", "captioner", *SLICE, *SLICE_CODING,
                     "caption_tokens", "segment_size"),
    semantic=True,
    order=10,
),
SchemeSpec(
    "single_text",
    "multisc.schemes.registry:build_single_text",
    "one caption of the whole image (LLaVA by default) + the slice; the same receiver",
    needs=_multi_text_needs,
    options=(*PARTS, *TEXT_LINK, *SLICE, "corrector", *GENERATION, "caption_tokens",
             "segment_size"),
    prepare_options=("segmenter", "captioner", *SLICE, *SLICE_CODING, "caption_tokens",
                     "segment_size"),
    semantic=True,
    order=20,
),
SchemeSpec(
    "vlm_csc",
    "multisc.schemes.registry:build_vlm_csc",
    "one caption (BLIP by default); text-only Stable Diffusion (no corrector by default)",
    needs=_vlm_csc_needs,
    options=("vlm_captioner", "generator", *TEXT_LINK, "vlm_corrector", "steps", "guidance",
             "generation_size", "candidates", "caption_tokens"),
    prepare_options=("vlm_captioner", "caption_tokens"),
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
