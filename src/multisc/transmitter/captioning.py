"""Captioners: LLaVA (one caption per block, the paper's prompt) and BLIP (VLM-CSC).

Both are batched: all blocks of an image, and several images, go through one
``generate`` call (greedy decoding, left padding), so batched and one-by-one captions
are the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.imaging import to_rgb
from multisc.models import load_model_and_processor

#: The paper's fixed query to LLaVA.
PAPER_PROMPT = "Relay a brief, clear account of the picture shown."


class _Captioner(ABC):
    """A vision-language model + its processor, captioning images in batches (greedy).

    Subclasses name their registry component and classes, and build the model inputs.
    """

    component = ""

    def __init__(self, model: torch.nn.Module, processor, max_new_tokens: int, batch_size: int):
        self.model = model.eval()
        self.processor = processor
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = int(batch_size)

    @staticmethod
    @abstractmethod
    def _classes() -> tuple:
        """(model class, processor class) from transformers."""

    @classmethod
    def from_pretrained(
        cls,
        models_dir: str | Path | None = None,
        device: torch.device | str | None = None,
        **kwargs,
    ):
        """Load the registry's component (or ``models_dir/<component>``)."""
        model_class, processor_class = cls._classes()
        model, processor = load_model_and_processor(
            cls.component, model_class.from_pretrained, processor_class.from_pretrained,
            models_dir, device,
        )  # fmt: skip
        return cls(model, processor, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @abstractmethod
    def _inputs(self, images: list[Image.Image], prompts: list[str] | None):
        """The processor's batch for ``images`` (and their prompts)."""

    def _keeps_prompt(self) -> bool:
        """Whether ``generate`` returns the prompt tokens before the new ones."""
        return False

    @torch.no_grad()
    def _caption(self, images: Sequence[Image.Image], prompts: list[str] | None) -> list[str]:
        captions: list[str] = []
        for start in range(0, len(images), self.batch_size):
            chunk = [to_rgb(image) for image in images[start : start + self.batch_size]]
            chunk_prompts = None if prompts is None else prompts[start : start + self.batch_size]
            inputs = self._inputs(chunk, chunk_prompts).to(self.device)
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            out = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1
            )
            if self._keeps_prompt():
                out = out[:, inputs["input_ids"].shape[1] :]
            captions += [
                t.strip() for t in self.processor.batch_decode(out, skip_special_tokens=True)
            ]
        return captions


class LlavaCaptioner(_Captioner):
    """A LLaVA-family model (``LlavaForConditionalGeneration`` + its ``AutoProcessor``).

    The prompt goes through the processor's own chat template, one image per prompt.

    :param max_new_tokens: bound on caption length (the paper's Qwen1.5-0.5B LLaVA writes
        about 42 characters on average).
    """

    component = "captioner"

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        prompt: str = PAPER_PROMPT,
        max_new_tokens: int = 60,
        batch_size: int = 16,
    ) -> None:
        super().__init__(model, processor, max_new_tokens, batch_size)
        self.processor.tokenizer.padding_side = "left"  # decoder-only: pad on the left
        self.prompt = prompt

    @staticmethod
    def _classes() -> tuple:
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        return LlavaForConditionalGeneration, AutoProcessor

    def _chat(self, prompt: str) -> str:
        conversation = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
        ]
        return self.processor.apply_chat_template(conversation, add_generation_prompt=True)

    def _inputs(self, images, prompts):
        texts = [self._chat(p) for p in prompts]
        return self.processor(images=images, text=texts, padding=True, return_tensors="pt")

    def _keeps_prompt(self) -> bool:
        return True

    def caption(
        self, images: Sequence[Image.Image], prompts: Sequence[str] | None = None
    ) -> list[str]:
        """One caption per image (greedy), in batches of ``batch_size``.

        :param prompts: one prompt per image; default: the paper's prompt for all.
        """
        if prompts is not None and len(prompts) != len(images):
            raise InvalidInputError(f"{len(images)} images but {len(prompts)} prompts")
        return self._caption(
            images, list(prompts) if prompts is not None else [self.prompt] * len(images)
        )


class BlipCaptioner(_Captioner):
    """BLIP image captioning (``BlipForConditionalGeneration``), used by VLM-CSC."""

    component = "vlm_captioner"

    def __init__(
        self, model: torch.nn.Module, processor, max_new_tokens: int = 40, batch_size: int = 16
    ) -> None:
        super().__init__(model, processor, max_new_tokens, batch_size)

    @staticmethod
    def _classes() -> tuple:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        return BlipForConditionalGeneration, BlipProcessor

    def _inputs(self, images, prompts):
        return self.processor(images=images, return_tensors="pt")

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image (greedy), in batches of ``batch_size``."""
        return self._caption(images, None)
