"""BLIP-prompted: BLIP's conditional captioning, each caption continuing a text prompt
("a photograph of"), as a multisc captioner from outside multisc.

The entry point ``multisc.captioners`` names :data:`CAPTIONER`, a ``PartSpec``: the name a
config uses (``captioner: blip-prompted``), a builder, and the components it loads (BLIP,
multisc's ``vlm_captioner``: downloaded, pinned and verified like any other).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from multisc.decoding import state_settings
from multisc.imaging import to_rgb
from multisc.models import load_model_and_processor
from multisc.parts import PartSpec

#: the text every caption continues
PROMPT = "a photograph of"


class PromptedBlip:
    """BLIP captions that continue ``prompt``, greedy, in batches of ``batch_size``; the
    prompt is cut off the returned captions."""

    def __init__(self, model, processor, max_new_tokens: int, batch_size: int) -> None:
        self.model, self.processor = model.eval(), processor
        self.batch_size = int(batch_size)
        state_settings(self.model, max_new_tokens=int(max_new_tokens))  # greedy, bounded

    @torch.no_grad()
    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        device = next(self.model.parameters()).device
        out: list[str] = []
        for start in range(0, len(images), self.batch_size):
            chunk = [to_rgb(image) for image in images[start : start + self.batch_size]]
            inputs = self.processor(
                images=chunk, text=[PROMPT] * len(chunk), return_tensors="pt"
            ).to(device)
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            texts = self.processor.batch_decode(
                self.model.generate(**inputs), skip_special_tokens=True
            )
            out += [text.strip().removeprefix(PROMPT).strip() for text in texts]
        return out


def build(models_dir, device, max_new_tokens: int = 40, batch_size: int = 16) -> PromptedBlip:
    from transformers import BlipForConditionalGeneration, BlipProcessor

    model, processor = load_model_and_processor(
        "vlm_captioner", BlipForConditionalGeneration.from_pretrained,
        BlipProcessor.from_pretrained, models_dir, device,
    )  # fmt: skip
    return PromptedBlip(model, processor, max_new_tokens, batch_size)


CAPTIONER = PartSpec(
    "blip-prompted",
    build,
    f"BLIP's conditional captioning after the prompt {PROMPT!r} (a plugin)",
    needs=("vlm_captioner",),
)
