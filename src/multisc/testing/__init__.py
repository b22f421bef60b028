"""Stand-in components of the real classes, for tests, offline smoke runs and benchmarks.

In the spirit of diffusers' ``get_dummy_components``: the same classes as the pretrained
components, saved with ``save_pretrained`` in the real repos' layouts, so they load back
through exactly the path users take (``--models DIR`` -> ``DIR/<component>``). One
builder per component, ``build(directory, size, seed)``, at one of two sizes
(``multisc.testing.sizes``): ``tiny`` (a few layers; outputs mean nothing, code paths
are the real ones) or ``full`` (each component's published configuration, key by key, with
random weights: the real models' cost, offline).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from multisc.testing.bart import as_real_corrector_layout, build_bart
from multisc.testing.blip import build_blip
from multisc.testing.clip import build_clip
from multisc.testing.common import CORPUS, hub_config
from multisc.testing.corpus import PLACES, SUBJECTS, VERBS, synthetic_captions, tiny_bart_for
from multisc.testing.diffusion import (
    build_ip_adapter,
    build_ip_adapter_plus,
    build_lcm_lora,
    build_stable_diffusion,
)
from multisc.testing.llava import build_llava, build_llava15, full_llava_config
from multisc.testing.segmenter import build_segmenter, segmenter_builders
from multisc.testing.sizes import SIZES, Size
from multisc.testing.smolvlm import build_smolvlm

Builder = Callable[..., Path]

#: component name (as in ``multisc.models``) -> ``build(directory, size, seed)``: every
#: component a scheme loads (the metrics' torch hub networks are written by
#: [multisc.testing.torch_hub][multisc.testing.torch_hub])
BUILDERS: dict[str, Builder] = {
    **segmenter_builders(),
    "captioner": build_llava,
    "llava-1.5-7b": build_llava15,
    "smolvlm-256m": build_smolvlm,
    "vlm_captioner": build_blip,
    "corrector": build_bart,
    "generator": build_stable_diffusion,
    "lcm_lora_sd15": build_lcm_lora,
    "ip_adapter": build_ip_adapter,
    "ip_adapter_plus": build_ip_adapter_plus,
    "clip": build_clip,
}


#: the components of the paper's experiment (every scheme at its defaults, and the receiver's
#: CLIP): what ``make-random --size full`` writes unless asked for more (the choices add
#: 20 GB at full size, LLaVA-1.5-7B's 14 of them)
PAPER_SET = (
    "segmenter",
    "captioner",
    "vlm_captioner",
    "corrector",
    "generator",
    "ip_adapter",
    "clip",
)


def builders(size: Size) -> dict[str, Builder]:
    """The builders at ``size``: ``build(directory, seed=0)`` each
    (``multisc models make-tiny`` / ``make-random --size full``)."""
    if size not in SIZES:
        from multisc.errors import choices_error

        raise choices_error("size", size, SIZES)
    return {name: partial(build, size=size) for name, build in BUILDERS.items()}


TINY_BUILDERS = builders("tiny")
FULL_BUILDERS = builders("full")

__all__ = [
    "BUILDERS",
    "CORPUS",
    "FULL_BUILDERS",
    "PAPER_SET",
    "PLACES",
    "SIZES",
    "SUBJECTS",
    "TINY_BUILDERS",
    "VERBS",
    "as_real_corrector_layout",
    "build_bart",
    "build_blip",
    "build_clip",
    "build_ip_adapter",
    "build_ip_adapter_plus",
    "build_lcm_lora",
    "build_llava",
    "build_llava15",
    "build_segmenter",
    "build_smolvlm",
    "build_stable_diffusion",
    "builders",
    "full_llava_config",
    "hub_config",
    "synthetic_captions",
    "tiny_bart_for",
]
