"""The IP-Adapters a run can choose (``ip_adapter:``), one registration each; packages add
theirs through the entry-point group ``multisc.ip_adapters``.

Light to import (no torch, no diffusers). An entry's ``build(pipe, models_dir)`` loads the
adapter into a Stable Diffusion pipeline
([load_ip_adapter][multisc.receiver.generation.load_ip_adapter]) and returns which image
features it reads: ``image_embeds`` (the image encoder's pooled projection, one token) or
``hidden_states`` (its penultimate patch embeddings, 257 tokens: IP-Adapter Plus).
"""

from __future__ import annotations

from typing import Any

from multisc.parts import PartRegistry, PartSpec

#: every IP-Adapter, one registration each
IP_ADAPTER_REGISTRY = PartRegistry("ip_adapter", "multisc.ip_adapters")
#: the paper's IP-Adapter
DEFAULT_IP_ADAPTER = "base"


def _adapter(component: str, weight_name: str, features: str):
    def build(pipe: Any, models_dir: Any) -> str:
        from multisc.receiver.generation import load_ip_adapter

        load_ip_adapter(pipe, component, weight_name, models_dir)
        return features

    return build


IP_ADAPTER_REGISTRY.register(PartSpec(
    DEFAULT_IP_ADAPTER,
    _adapter("ip_adapter", "ip-adapter_sd15.safetensors", "image_embeds"),
    "IP-Adapter for SD 1.5 (the paper's): the slice's pooled CLIP ViT-H/14 embedding as 4 "
    "tokens",
    needs=("ip_adapter",),
    info={"image_features": "image_embeds", "tokens": 4},
))  # fmt: skip
IP_ADAPTER_REGISTRY.register(PartSpec(
    "plus",
    _adapter("ip_adapter_plus", "ip-adapter-plus_sd15.safetensors", "hidden_states"),
    "IP-Adapter Plus for SD 1.5: the slice's 257 patch embeddings through a resampler, 16 "
    "tokens (closer to the slice's layout and detail)",
    needs=("ip_adapter_plus",),
    info={"image_features": "hidden_states", "tokens": 16},
))  # fmt: skip


def ip_adapter_names() -> tuple[str, ...]:
    """Every registered IP-Adapter (built-in and from plugins)."""
    return IP_ADAPTER_REGISTRY.names()
