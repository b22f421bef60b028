"""Img2Img-SC: one BLIP caption + a heavily downsampled image; SD img2img at the receiver.

A multisc scheme from outside multisc: the entry point ``multisc.schemes`` names ``SPEC``,
and multisc derives the rest (see ``multisc.schemes.spec``).

This module is what the entry point loads, so it stays light: no torch, diffusers or
transformers at import (``multisc schemes list`` and every refusal read every entry point,
and would wait for them). The scheme's code is in ``img2img_sc.scheme``, which ``SPEC``
names as ``"img2img_sc.scheme:build"``: multisc imports it when the scheme is built.
The conformance suite fails a plugin whose entry point imports torch, diffusers or
transformers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from multisc.errors import InvalidInputError
from multisc.schemes.roles import part_needs
from multisc.schemes.spec import SchemeSpec

if TYPE_CHECKING:
    from PIL import Image

NAME = "img2img_sc"


@dataclass(frozen=True)
class Img2ImgSettings:
    """Img2Img-SC's own settings (``options: {img2img_sc: {...}}`` in a run config)."""

    strength: float = field(
        default=0.6,
        metadata={"help": "img2img strength in (0, 1]: how far from the received image"},
    )
    downsample: int = field(
        default=8, metadata={"help": "the image travels downsampled by this factor per side"}
    )

    def __post_init__(self) -> None:
        if not 0.0 < float(self.strength) <= 1.0:
            raise InvalidInputError(f"strength must lie in (0, 1], got {self.strength}")
        if int(self.downsample) < 1:
            raise InvalidInputError(f"downsample must be >= 1, got {self.downsample}")


@dataclass(frozen=True)
class Img2ImgPrepared:
    """The working image, its caption, and the small image that travels."""

    reference: Image.Image
    caption: str
    small: Image.Image
    timings: dict[str, float] = field(default_factory=dict)


SPEC = SchemeSpec(
    NAME,
    "img2img_sc.scheme:build",  # imported when the scheme is built, not when listed
    "one BLIP caption + the image downsampled 8x (analog); SD img2img from the received "
    "image with the received caption",
    # the components of the parts the options name (BLIP's and SD 1.5's by default)
    needs=lambda o: (
        *part_needs("captioner", o.vlm_captioner),
        *part_needs("generator", o.generator),
    ),
    options=(
        "vlm_captioner",
        "generator",
        "text_modulation",
        "text_fec",
        "text_code_rate",
        "steps",
        "guidance",
        "generation_size",
        "caption_tokens",
    ),
    semantic=True,
    order=60,
    settings=Img2ImgSettings,
    prepared_types=(Img2ImgPrepared,),
)
