"""Captioners: LLaVA (one caption per block, the paper's prompt) and BLIP (VLM-CSC).

Both are batched: all blocks of an image, and several images, go through one
``generate`` call (greedy decoding, left padding), so batched and one-by-one captions
are the same.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from multisc.decoding import state_settings
from multisc.errors import InvalidInputError, ModelFileError
from multisc.imaging import to_rgb
from multisc.models import load_model_and_processor

logger = logging.getLogger(__name__)

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
        # greedy, no repetition rules, whatever the checkpoint's generation config says
        state_settings(self.model, max_new_tokens=self.max_new_tokens)

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
            out = self.model.generate(**inputs)  # settings: the stated generation_config
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
        reconcile_llava_processor(self.model.config, self.processor)
        check_tied_output(self.model)
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


def _image_side(image_processor) -> tuple[int, int]:
    """(height, width) the image processor resizes (or crops) every image to."""
    size = (
        getattr(image_processor, "crop_size", None)
        if getattr(image_processor, "do_center_crop", False)
        else None
    )
    size = size or image_processor.size
    if "height" in size:
        return int(size["height"]), int(size["width"])
    side = int(size.get("shortest_edge", 0))
    return side, side


def check_tied_output(model: torch.nn.Module) -> None:
    """Refuse a language model whose output layer should be tied to its input embeddings
    (``tie_word_embeddings`` in ``config.json`` or its ``text_config``) but is not.

    llava-interleave-qwen stores no ``lm_head``: it keeps ``tie_word_embeddings`` only in
    ``text_config``, and some transformers 5 releases did not lift it to the model's config
    (fixed in huggingface/transformers PR 45857), so the head was left random and the
    captioner wrote nonsense without any error.

    :raises ModelFileError: the weights are not shared (nor equal); names the transformers
        version and what to install.
    """
    import transformers

    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    wanted = bool(getattr(config, "tie_word_embeddings", False)) or bool(
        getattr(text, "tie_word_embeddings", False)
    )
    output, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    if not wanted or output is None or embeddings is None:
        return
    head, table = output.weight, embeddings.weight
    if head.device.type == "meta" or head.data_ptr() == table.data_ptr():
        return
    if head.shape == table.shape and torch.equal(head, table):
        return
    raise ModelFileError(
        "component 'captioner': the language model's output layer is not tied to its input "
        "embeddings although config.json asks for it (tie_word_embeddings); transformers "
        f"{transformers.__version__} left it untrained, and captions would be nonsense. "
        "Install transformers>=5.17 (pip install -U 'transformers>=5.17,<6')"
    )


def reconcile_llava_processor(config, processor) -> None:
    """Make a LLaVA processor insert exactly as many image tokens as the model produces
    image features, or raise one clear error.

    The processor's ``patch_size`` and ``vision_feature_select_strategy`` come from the
    repo's ``processor_config.json``, which changes on the Hub independently of
    ``config.json`` (llava-interleave-qwen's went from "default" to "full"); they are set
    from ``model.config``, and ``num_additional_image_tokens`` from the vision tower (a
    CLIP tower adds a CLS token, SigLIP none). Then the tokens the processor inserts for one
    image must equal the features the vision tower gives for the processor's image size.

    :raises ModelFileError: they differ (e.g. an image processor resizing to 336 px for a
        384 px vision tower); the message names both values.
    """
    vision = config.vision_config
    wanted = {
        "patch_size": int(vision.patch_size),
        "vision_feature_select_strategy": config.vision_feature_select_strategy,
        "num_additional_image_tokens": 1 if vision.model_type == "clip_vision_model" else 0,
    }
    for key, value in wanted.items():
        found = getattr(processor, key, None)
        if found is not None and found != value:
            logger.info(
                "LLaVA processor %s=%r disagrees with model.config (%r): using the model's",
                key, found, value,
            )  # fmt: skip
        setattr(processor, key, value)
    strategy_drop = 1 if wanted["vision_feature_select_strategy"] == "default" else 0
    grid = int(vision.image_size) // wanted["patch_size"]
    features = grid * grid + wanted["num_additional_image_tokens"] - strategy_drop
    height, width = _image_side(processor.image_processor)
    tokens = (height // wanted["patch_size"]) * (width // wanted["patch_size"])
    tokens += wanted["num_additional_image_tokens"] - strategy_drop
    if tokens != features:
        raise ModelFileError(
            f"component 'captioner': the processor would insert {tokens} image tokens per "
            f"image (its image processor resizes to {height}x{width}, patch "
            f"{wanted['patch_size']}) but the model's vision tower gives {features} image "
            f"features (image_size {vision.image_size} in config.json); the processor and "
            "model files come from different revisions: run `multisc models pull captioner`"
        )
    image_token = getattr(processor, "image_token", None)
    token_id = processor.tokenizer.convert_tokens_to_ids(image_token) if image_token else None
    if token_id != config.image_token_index:
        raise ModelFileError(
            f"component 'captioner': the processor's image token {image_token!r} has id "
            f"{token_id}, but model.config.image_token_index is {config.image_token_index}; "
            "the tokenizer and model files do not belong together: run "
            "`multisc models pull captioner`"
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
