"""The generators a run can choose (``generator:``): a base model, optionally with a
few-step LoRA and its scheduler, one registration each; packages add theirs through the
entry-point group ``multisc.generators``.

Light to import (no torch, no diffusers). An entry's
``build(models_dir, device, ip_adapter) -> ImageGenerator`` loads the pipeline (with the
IP-Adapter entry ``ip_adapter`` when not ``None``: loaded before a LoRA, as diffusers'
docs do); its ``info`` holds the sampling it was made for (``steps``, ``guidance``, and
``steps_range`` where only some step counts make sense), the defaults of the options
``steps`` and ``guidance``.
"""

from __future__ import annotations

from typing import Any

from multisc.parts import PartRegistry, PartSpec
from multisc.receiver.ip_adapters import IP_ADAPTER_REGISTRY

#: every generator, one registration each
GENERATOR_REGISTRY = PartRegistry("generator", "multisc.generators")
#: the paper's generator
DEFAULT_GENERATOR = "sd15"


def _stable_diffusion(lcm_lora: str | None = None):
    def build(models_dir: Any, device: Any, ip_adapter: str | None) -> Any:
        from multisc.receiver.generation import ImageGenerator

        load = IP_ADAPTER_REGISTRY.get(ip_adapter).build if ip_adapter else False
        return ImageGenerator.from_pretrained(
            models_dir, device, ip_adapter=load, lcm_lora=lcm_lora
        )

    return build


GENERATOR_REGISTRY.register(PartSpec(
    DEFAULT_GENERATOR,
    _stable_diffusion(),
    "Stable Diffusion 1.5 (the paper's): PNDM, 30 steps, guidance 7.5",
    needs=("generator",),
    info={"steps": 30, "guidance": 7.5},
))  # fmt: skip
GENERATOR_REGISTRY.register(PartSpec(
    "sd15-lcm",
    _stable_diffusion("lcm_lora_sd15"),
    "SD 1.5 + LCM-LoRA (latent-consistency/lcm-lora-sdv1-5): LCMScheduler, 4 steps, "
    "guidance 1 (2-8 steps); a different system from the paper's, not a faster copy of it",
    needs=("generator", "lcm_lora_sd15"),
    info={"steps": 4, "guidance": 1.0, "steps_range": [2, 8]},
))  # fmt: skip


def generator_names() -> tuple[str, ...]:
    """Every registered generator (built-in and from plugins)."""
    return GENERATOR_REGISTRY.names()


def sampling(
    name: str, steps: int | None = None, guidance: float | None = None
) -> tuple[int, float]:
    """(diffusion steps, guidance scale) of generator ``name``: the given ones, else its
    own (``info``; SD 1.5's 30 and 7.5 for a plugin that names none)."""
    info = GENERATOR_REGISTRY.get(name).info
    return (
        int(steps if steps is not None else info.get("steps", 30)),
        float(guidance if guidance is not None else info.get("guidance", 7.5)),
    )


def make_generator(
    name: str, models_dir: Any = None, device: Any = None, ip_adapter: str | None = None
) -> Any:
    """The generator ``name`` ([generator_names][multisc.receiver.generators.generator_names])
    with IP-Adapter ``ip_adapter`` (a registered one, or ``None``: text only), loaded."""
    return GENERATOR_REGISTRY.get(name).build(models_dir, device, ip_adapter)
