"""Captioners: the LLaVA family (one caption per block, the paper's prompt: the paper's
Qwen1.5-0.5B LLaVA, LLaVA-1.5-7B), SmolVLM (Idefics3) and BLIP (VLM-CSC's). Which one a
scheme uses is a choice ([multisc.transmitter.captioners][multisc.transmitter.captioners]).

All are batched: all blocks of an image, and several images, go through one
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

    Subclasses name their default registry component and classes, and build the model
    inputs; ``component`` (the registry component it was loaded from) names it in errors.
    """

    component = ""

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        max_new_tokens: int,
        batch_size: int,
        component: str | None = None,
        missing_keys: Sequence[str] | None = None,
    ):
        self.component = component or type(self).component
        #: the model's parameters its checkpoint did not hold (``None``: not loaded here)
        self.missing_keys = None if missing_keys is None else tuple(missing_keys)
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
        component: str | None = None,
        **kwargs,
    ):
        """Load registry component ``component`` (default: the class's own; or
        ``models_dir/<component>``)."""
        component = component or cls.component
        model_class, processor_class = cls._classes()
        loading: dict = {}

        def load_model(directory: str, **options):
            model, info = model_class.from_pretrained(
                directory, output_loading_info=True, **options
            )
            loading.update(info)
            return model

        model, processor = load_model_and_processor(
            component, load_model, processor_class.from_pretrained, models_dir, device
        )
        return cls(
            model, processor, component=component,
            missing_keys=list(loading.get("missing_keys", ())), **kwargs,
        )  # fmt: skip

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


class _ChatCaptioner(_Captioner):
    """A chat VLM prompted through its processor's own chat template, one image per prompt
    (default: the paper's prompt); decoder-only, so padded on the left.

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
        component: str | None = None,
        missing_keys: Sequence[str] | None = None,
    ) -> None:
        super().__init__(model, processor, max_new_tokens, batch_size, component, missing_keys)
        self.processor.tokenizer.padding_side = "left"  # decoder-only: pad on the left
        self.prompt = prompt

    def _chat(self, prompt: str) -> str:
        conversation = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
        ]
        return self.processor.apply_chat_template(conversation, add_generation_prompt=True)

    def _images(self, images: list[Image.Image]) -> list:
        """The images as the processor takes them (one per prompt)."""
        return images

    def _inputs(self, images, prompts):
        texts = [self._chat(p) for p in prompts]
        return self.processor(
            images=self._images(images), text=texts, padding=True, return_tensors="pt"
        )

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


class LlavaCaptioner(_ChatCaptioner):
    """A LLaVA-family model (``LlavaForConditionalGeneration`` + its ``AutoProcessor``): the
    paper's Qwen1.5-0.5B LLaVA (component ``captioner``) or LLaVA-1.5-7B (``llava-1.5-7b``).

    The prompt goes through the processor's own chat template (``<|im_start|>user\n<image>
    ...`` for the Qwen one, ``USER: <image>\n... ASSISTANT:`` for LLaVA-1.5); the processor's
    image-token settings are taken from the model's config
    ([reconcile_llava_processor][multisc.transmitter.captioning.reconcile_llava_processor]).
    """

    component = "captioner"

    def __init__(self, model: torch.nn.Module, processor, **kwargs) -> None:
        super().__init__(model, processor, **kwargs)
        reconcile_llava_processor(self.model.config, self.processor, self.component)
        check_tied_output(self.model, self.component, self.missing_keys)

    @staticmethod
    def _classes() -> tuple:
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        return LlavaForConditionalGeneration, AutoProcessor


class SmolVlmCaptioner(_ChatCaptioner):
    """SmolVLM (``Idefics3ForConditionalGeneration`` + its ``AutoProcessor``): the image is
    split into 512 px tiles plus a global view, 64 image tokens each, behind the chat
    template's ``User:<image>...<end_of_utterance>\nAssistant:``."""

    component = "smolvlm-256m"

    def __init__(self, model: torch.nn.Module, processor, **kwargs) -> None:
        super().__init__(model, processor, **kwargs)
        check_tied_output(self.model, self.component, self.missing_keys)

    @staticmethod
    def _classes() -> tuple:
        from transformers import AutoProcessor, Idefics3ForConditionalGeneration

        return Idefics3ForConditionalGeneration, AutoProcessor

    def _images(self, images: list[Image.Image]) -> list:
        return [[image] for image in images]  # Idefics3: a list of images per prompt


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


def check_tied_output(
    model: torch.nn.Module, component: str = "captioner", missing_keys: Sequence[str] | None = None
) -> None:
    """Refuse a language model whose output layer was left at random initialisation: not in
    its checkpoint (``missing_keys``, as ``from_pretrained`` reports them) and not tied to
    the input embeddings.

    Checkpoints of small VLMs may store no ``lm_head`` and say ``tie_word_embeddings`` only
    in their ``text_config`` (llava-interleave-qwen). Whether the loaded model then shares
    the embedding matrix depends on the composite config class lifting that flag:
    ``LlavaConfig`` does in every transformers 5 release, ``Idefics3Config`` does not read
    it from ``text_config`` (SmolVLM-256M stores its own ``lm_head``, 513 MB with it, so it
    loads whole). A head left random makes the captioner write nonsense without any error;
    so what was loaded is verified, whatever the class. Without ``missing_keys`` (a model
    built here), a head the config asks to tie must be shared with, or equal to, the
    embeddings.

    :raises ModelFileError: the head is random; names the component, the transformers
        version and what to do.
    """
    import transformers

    output, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    if output is None or embeddings is None:
        return
    head, table = output.weight, embeddings.weight
    if head.device.type == "meta" or head.data_ptr() == table.data_ptr():
        return
    if missing_keys is not None:
        names = [name for name, p in model.named_parameters(remove_duplicate=False) if p is head]
        random = any(name in set(missing_keys) for name in names)
    else:
        config = model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        wanted = bool(getattr(config, "tie_word_embeddings", False)) or bool(
            getattr(text, "tie_word_embeddings", False)
        )
        random = wanted and not (head.shape == table.shape and torch.equal(head, table))
    if not random:
        return
    raise ModelFileError(
        f"component {component!r}: the language model's output layer is not in the "
        "checkpoint and was not tied to the input embeddings (tie_word_embeddings); "
        f"transformers {transformers.__version__} left it untrained, and captions would be "
        "nonsense. Install the transformers version multisc was tested with (pip install -c "
        "constraints.txt -e .), or report it naming the component"
    )


def reconcile_llava_processor(config, processor, component: str = "captioner") -> None:
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
            f"component {component!r}: the processor would insert {tokens} image tokens per "
            f"image (its image processor resizes to {height}x{width}, patch "
            f"{wanted['patch_size']}) but the model's vision tower gives {features} image "
            f"features (image_size {vision.image_size} in config.json); the processor and "
            f"model files come from different revisions: run `multisc models pull {component}`"
        )
    image_token = getattr(processor, "image_token", None)
    token_id = processor.tokenizer.convert_tokens_to_ids(image_token) if image_token else None
    if token_id != config.image_token_index:
        raise ModelFileError(
            f"component {component!r}: the processor's image token {image_token!r} has id "
            f"{token_id}, but model.config.image_token_index is {config.image_token_index}; "
            "the tokenizer and model files do not belong together: run "
            f"`multisc models pull {component}`"
        )


class BlipCaptioner(_Captioner):
    """BLIP image captioning (``BlipForConditionalGeneration``), used by VLM-CSC."""

    component = "vlm_captioner"

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        max_new_tokens: int = 40,
        batch_size: int = 16,
        component: str | None = None,
        missing_keys: Sequence[str] | None = None,
    ) -> None:
        super().__init__(model, processor, max_new_tokens, batch_size, component, missing_keys)

    @staticmethod
    def _classes() -> tuple:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        return BlipForConditionalGeneration, BlipProcessor

    def _inputs(self, images, prompts):
        return self.processor(images=images, return_tensors="pt")

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image (greedy), in batches of ``batch_size``."""
        return self._caption(images, None)
