"""Captioners: LLaVA (one caption per block, the paper's prompt) and BLIP (VLM-CSC).

Both are batched: all blocks of an image, and several images, go through one
``generate`` call (greedy decoding, left padding), so batched and one-by-one captions
are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.imaging import to_rgb
from multisc.models import load_model_and_processor

#: The paper's fixed query to LLaVA.
PAPER_PROMPT = "Relay a brief, clear account of the picture shown."


class LlavaCaptioner:
    """A LLaVA-family model (``LlavaForConditionalGeneration`` + its ``AutoProcessor``).

    The prompt goes through the processor's own chat template, one image per prompt.

    :param max_new_tokens: bound on caption length (the paper's Qwen1.5-0.5B LLaVA writes
        about 42 characters on average).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        prompt: str = PAPER_PROMPT,
        max_new_tokens: int = 60,
        batch_size: int = 16,
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.processor.tokenizer.padding_side = "left"  # decoder-only: pad on the left
        self.prompt = prompt
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = int(batch_size)

    @classmethod
    def from_pretrained(
        cls,
        models_dir: str | Path | None = None,
        device: torch.device | str | None = None,
        **kwargs,
    ) -> LlavaCaptioner:
        """Load the registry's ``captioner`` (or ``models_dir/captioner``)."""
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        model, processor = load_model_and_processor(
            "captioner",
            LlavaForConditionalGeneration.from_pretrained,
            AutoProcessor.from_pretrained,
            models_dir,
            device,
        )
        return cls(model, processor, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _chat(self, prompt: str) -> str:
        conversation = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
        ]
        return self.processor.apply_chat_template(conversation, add_generation_prompt=True)

    @torch.no_grad()
    def caption(
        self, images: Sequence[Image.Image], prompts: Sequence[str] | None = None
    ) -> list[str]:
        """One caption per image (greedy), in batches of ``batch_size``.

        :param prompts: one prompt per image; default: the paper's prompt for all.
        """
        if prompts is not None and len(prompts) != len(images):
            raise InvalidInputError(f"{len(images)} images but {len(prompts)} prompts")
        prompts = list(prompts) if prompts is not None else [self.prompt] * len(images)
        captions: list[str] = []
        for start in range(0, len(images), self.batch_size):
            chunk = [to_rgb(image) for image in images[start : start + self.batch_size]]
            texts = [self._chat(p) for p in prompts[start : start + self.batch_size]]
            inputs = self.processor(images=chunk, text=texts, padding=True, return_tensors="pt")
            inputs = inputs.to(self.device)
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            out = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1
            )
            new_tokens = out[:, inputs["input_ids"].shape[1] :]
            decoded = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
            captions += [text.strip() for text in decoded]
        return captions


class BlipCaptioner:
    """BLIP image captioning (``BlipForConditionalGeneration``), used by VLM-CSC."""

    def __init__(
        self, model: torch.nn.Module, processor, max_new_tokens: int = 40, batch_size: int = 16
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = int(batch_size)

    @classmethod
    def from_pretrained(
        cls,
        models_dir: str | Path | None = None,
        device: torch.device | str | None = None,
        **kwargs,
    ) -> BlipCaptioner:
        """Load the registry's ``vlm_captioner`` (or ``models_dir/vlm_captioner``)."""
        from transformers import BlipForConditionalGeneration, BlipProcessor

        model, processor = load_model_and_processor(
            "vlm_captioner",
            BlipForConditionalGeneration.from_pretrained,
            BlipProcessor.from_pretrained,
            models_dir,
            device,
        )
        return cls(model, processor, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image (greedy), in batches of ``batch_size``."""
        captions: list[str] = []
        for start in range(0, len(images), self.batch_size):
            chunk = [to_rgb(image) for image in images[start : start + self.batch_size]]
            inputs = self.processor(images=chunk, return_tensors="pt").to(self.device)
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            out = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1
            )
            captions += [
                t.strip() for t in self.processor.batch_decode(out, skip_special_tokens=True)
            ]
        return captions
