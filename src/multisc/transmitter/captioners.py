"""The captioners a run can choose (``captioner:`` for the multi-text schemes,
``vlm_captioner:`` for VLM-CSC), one registration each; packages add theirs through the
entry-point group ``multisc.captioners``.

Light to import (no torch, no transformers): each builder imports
[multisc.transmitter.captioning][multisc.transmitter.captioning] when it is built. A builder
is ``build(models_dir, device, max_new_tokens, batch_size) -> captioner``: anything with
``caption(images) -> list[str]`` (one caption per image, in order), a ``model`` (its
parameters are counted) and a ``processor`` or ``tokenizer`` (caption lengths in tokens).
"""

from __future__ import annotations

from typing import Any

from multisc.parts import PartRegistry, PartSpec


#: every captioner, one registration each
def _trained(name: str):
    """``path:DIR``: the captioner ``multisc captioner train`` wrote into DIR."""
    if not name.startswith("path:"):
        return None
    from multisc.transmitter.trained import trained_spec

    return trained_spec(name, CAPTIONER_REGISTRY)


CAPTIONER_REGISTRY = PartRegistry("captioner", "multisc.captioners", resolve=_trained)
#: the paper's captioner (the multi-text schemes' default)
DEFAULT_CAPTIONER = "llava-interleave-qwen-0.5b"
#: VLM-CSC's captioner
DEFAULT_VLM_CAPTIONER = "blip"


def _loader(cls_name: str, component: str):
    def build(models_dir: Any, device: Any, max_new_tokens: int = 60, batch_size: int = 16) -> Any:
        from multisc.transmitter import captioning

        cls = getattr(captioning, cls_name)
        return cls.from_pretrained(
            models_dir, device, component=component, max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        )  # fmt: skip

    return build


for _name, _cls, _component, _summary, _info in (
    (DEFAULT_CAPTIONER, "LlavaCaptioner", "captioner",
     "the paper's lightweight LLaVA: SigLIP + Qwen1.5-0.5B (llava-interleave-qwen-0.5b-hf)",
     {"table_i": "Multi-SC's LLaVA (Qwen1.5-0.5B)"}),
    ("llava-1.5-7b", "LlavaCaptioner", "llava-1.5-7b",
     "LLaVA-1.5: CLIP ViT-L/14-336 + Vicuna-7B (Table I's second row; about 14 GB in fp16)",
     {"table_i": "LLaVA-1.5-7B"}),
    ("smolvlm-256m", "SmolVlmCaptioner", "smolvlm-256m",
     "SmolVLM-256M-Instruct: SigLIP-B/16 + SmolLM2-135M (Idefics3; 513 MB in bf16)", {}),
    (DEFAULT_VLM_CAPTIONER, "BlipCaptioner", "vlm_captioner",
     "BLIP base captioning (VLM-CSC's; no prompt)", {}),
):  # fmt: skip
    CAPTIONER_REGISTRY.register(
        PartSpec(_name, _loader(_cls, _component), _summary, needs=(_component,), info=_info)
    )


def captioner_names() -> tuple[str, ...]:
    """Every registered captioner (built-in and from plugins)."""
    return CAPTIONER_REGISTRY.names()


def make_captioner(
    name: str,
    models_dir: Any = None,
    device: Any = None,
    max_new_tokens: int = 60,
    batch_size: int = 16,
) -> Any:
    """The captioner ``name`` ([captioner_names][multisc.transmitter.captioners.captioner_names]),
    loaded; ``max_new_tokens`` bounds each caption (tokens)."""
    return CAPTIONER_REGISTRY.get(name).build(models_dir, device, max_new_tokens, batch_size)
