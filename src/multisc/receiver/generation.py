"""Image generation at the receiver: Stable Diffusion + IP-Adapter (Multi-SC) or text only.

The IP-Adapter's decoupled cross-attention adds ``lambda`` times the image-prompt
attention (from the received slice) to the text attention; ``lambda = 0`` is plain
text-to-image. Text-only generation (VLM-CSC) on a pipeline whose UNet carries the
adapter passes zero image embeddings at scale 0, which adds exactly nothing, so one
loaded UNet serves both. Which base model, few-step LoRA and IP-Adapter are loaded is a
choice ([multisc.receiver.generators][multisc.receiver.generators],
[multisc.receiver.ip_adapters][multisc.receiver.ip_adapters]).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image

from multisc.devices import resolve_device
from multisc.errors import InvalidInputError
from multisc.models import default_dtype, load_pretrained

logger = logging.getLogger(__name__)

IP_ADAPTER_WEIGHTS = "ip-adapter_sd15.safetensors"
IP_ADAPTER_SUBFOLDER = "models"
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"
#: the image features an IP-Adapter reads: pooled projection (IP-Adapter) or penultimate
#: patch embeddings (IP-Adapter Plus)
IMAGE_FEATURES = ("image_embeds", "hidden_states")


def load_ip_adapter(pipe, component: str, weight_name: str, models_dir=None) -> None:
    """Load IP-Adapter component ``component`` (its ``models/<weight_name>`` and
    ``models/image_encoder``) into ``pipe``; the image encoder takes the pipeline's dtype."""

    def load(source: str, **options):
        pipe.load_ip_adapter(
            source, subfolder=IP_ADAPTER_SUBFOLDER, weight_name=weight_name, **options
        )
        return pipe

    load_pretrained(component, load, models_dir)


def load_lcm_lora(pipe, component: str, models_dir=None) -> None:
    """Fuse the LCM-LoRA ``component`` into ``pipe``'s UNet (diffusers converts its kohya
    keys; the LoRA layers are dropped once fused, so sampling costs what the base model
    costs) and sample with ``LCMScheduler``."""
    from diffusers import LCMScheduler

    def load(source: str, **options):
        pipe.load_lora_weights(source, weight_name=LORA_WEIGHTS, **options)
        return pipe

    load_pretrained(component, load, models_dir)
    pipe.fuse_lora()
    pipe.unload_lora_weights()
    pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)


def _pipeline_class(img2img: bool = False):
    """``StableDiffusionPipeline`` (or its img2img sibling) taking one IP-Adapter image
    prompt per prompt."""
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    base = StableDiffusionImg2ImgPipeline if img2img else StableDiffusionPipeline

    class PerPromptImagePipeline(base):  # type: ignore[valid-type, misc]
        """``StableDiffusionPipeline`` taking one IP-Adapter image prompt *per prompt*.

        diffusers (0.42) assumes one image prompt shared by the whole batch: it tiles
        given ``ip_adapter_image_embeds`` ``batch_size`` times, so per-prompt embeddings
        would be reshaped across samples (one image's slice leaking into another's
        generation). Here the embeddings arrive already laid out per sample,
        ``[2B, 1, D]`` (unconditional half first) with guidance or ``[B, 1, D]`` without,
        and are used as given.
        """

        def prepare_ip_adapter_image_embeds(
            self,
            ip_adapter_image,
            ip_adapter_image_embeds,
            device,
            num_images_per_prompt,
            do_classifier_free_guidance,
        ):
            if ip_adapter_image_embeds is None:
                return super().prepare_ip_adapter_image_embeds(
                    ip_adapter_image,
                    ip_adapter_image_embeds,
                    device,
                    num_images_per_prompt,
                    do_classifier_free_guidance,
                )
            return [embeds.to(device) for embeds in ip_adapter_image_embeds]

    return PerPromptImagePipeline


class ImageGenerator:
    """Generates images from prompts (and optionally image prompts), batched.

    :param pipe: a ``StableDiffusionPipeline`` (with the IP-Adapter loaded when
        ``has_ip_adapter``).
    :param image_features: what its IP-Adapter reads of the image encoder:
        ``image_embeds`` (``[B, 1, D]``, the pooled projection) or ``hidden_states``
        (``[B, 1, 257, W]``, the penultimate patch embeddings: IP-Adapter Plus).
    :param scale: the IP-Adapter weight lambda (paper: 0.5).
    :param steps: denoising steps; ``guidance``: classifier-free guidance scale.
    :param size: generation resolution (square, multiple of 8); ``None``: the pipeline's
        native size (UNet sample size x VAE scale: 512 for SD 1.5). Outputs are resized to
        the size each caller asks for.
    """

    def __init__(
        self,
        pipe,
        has_ip_adapter: bool,
        scale: float = 0.5,
        steps: int = 30,
        guidance: float = 7.5,
        size: int | None = None,
        image_features: str = "image_embeds",
    ) -> None:
        if image_features not in IMAGE_FEATURES:
            raise InvalidInputError(
                f"image_features {image_features!r} is not one of {', '.join(IMAGE_FEATURES)}"
            )
        if size is None:
            size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
        if size % 8:
            raise InvalidInputError(f"generation size must be a multiple of 8, got {size}")
        self.pipe = pipe
        self.pipe.set_progress_bar_config(disable=True)
        self.has_ip_adapter = has_ip_adapter
        self.scale = float(scale)
        self.steps = int(steps)
        self.guidance = float(guidance)
        self.size = int(size)
        self.image_features = image_features

    @classmethod
    def from_pretrained(
        cls,
        models_dir: str | Path | None = None,
        device: torch.device | str | None = None,
        ip_adapter: bool | Callable[..., str] = True,
        lcm_lora: str | None = None,
        **kwargs,
    ) -> ImageGenerator:
        """SD 1.5 (registry ``generator``) with an IP-Adapter: ``True``, the paper's
        (``models/ip-adapter_sd15.safetensors`` + ``models/image_encoder`` of registry
        ``ip_adapter``); a loader ``load(pipe, models_dir) -> image features`` (an entry of
        [multisc.receiver.ip_adapters][multisc.receiver.ip_adapters]); ``False``, none.
        When ``lcm_lora`` names a LoRA component, that LoRA is fused in and sampled with
        ``LCMScheduler`` (loaded after the adapter).

        The safety checker is not loaded: it blanks images it flags, which would corrupt
        the metrics of a transmission study.
        """
        device = resolve_device(device)
        pipe = load_pretrained(
            "generator",
            _pipeline_class().from_pretrained,
            models_dir,
            dtype=default_dtype(device),
            safety_checker=None,
            requires_safety_checker=False,
        )
        features = "image_embeds"
        if ip_adapter is True:
            load_ip_adapter(pipe, "ip_adapter", IP_ADAPTER_WEIGHTS, models_dir)
        elif ip_adapter:
            features = ip_adapter(pipe, models_dir)
        if lcm_lora:
            load_lcm_lora(pipe, lcm_lora, models_dir)
        return cls(pipe.to(device), bool(ip_adapter), image_features=features, **kwargs)

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device

    def with_settings(
        self, scale: float, steps: int, guidance: float, size: int | None
    ) -> ImageGenerator:
        """A generator on the very same pipeline (no second copy of the weights) with other
        settings; ``size=None``: the pipeline's native size."""
        return ImageGenerator(
            self.pipe, self.has_ip_adapter, scale, steps, guidance, size, self.image_features
        )

    def _image_embeds(self, slices: Sequence[Image.Image] | None, batch: int) -> list[torch.Tensor]:
        """Per-prompt IP-Adapter embeddings, the unconditional half first: ``[2B, 1, D]``
        (zeros unconditional) for an IP-Adapter, ``[2B, 1, 257, W]`` for IP-Adapter Plus
        (the encoding of a black image unconditional, as diffusers' ``encode_image``).
        Text only (``slices`` None): zeros, which the adapter at scale 0 ignores."""
        encoder = self.pipe.image_encoder
        config = encoder.config
        if self.image_features == "hidden_states":
            tokens = (config.image_size // config.patch_size) ** 2 + 1
            shape: tuple[int, ...] = (batch, 1, tokens, config.hidden_size)
        else:
            shape = (batch, 1, config.projection_dim)
        if slices is None:
            positive = torch.zeros(shape, device=self.device, dtype=encoder.dtype)
            negative = torch.zeros_like(positive)
        else:
            pixels = self.pipe.feature_extractor(list(slices), return_tensors="pt").pixel_values
            pixels = pixels.to(self.device, encoder.dtype)
            with torch.no_grad():
                if self.image_features == "hidden_states":
                    positive = encoder(pixels, output_hidden_states=True).hidden_states[-2]
                    negative = encoder(
                        torch.zeros_like(pixels), output_hidden_states=True
                    ).hidden_states[-2]
                    positive, negative = positive[:, None], negative[:, None]
                else:
                    positive = encoder(pixels).image_embeds[:, None, :]
                    negative = torch.zeros_like(positive)
        if self.guidance > 1.0:
            return [torch.cat([negative, positive])]
        return [positive]

    @property
    def img2img_pipe(self):
        """The img2img pipeline on the very same modules (no second copy of the weights)."""
        if getattr(self, "_img2img", None) is None:
            self._img2img = _pipeline_class(img2img=True).from_pipe(self.pipe)
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

    def _run(
        self, prompts, generators, slices, scale, init=None, strength=0.6
    ) -> list[Image.Image]:
        """One pipeline call; on GPU out-of-memory, the batch is split in halves (each
        sample keeps its generator, so the images are the same) and the run goes on."""
        options = {}
        if self.has_ip_adapter:
            lam = 0.0 if slices is None else (self.scale if scale is None else float(scale))
            self.pipe.set_ip_adapter_scale(lam)
            options["ip_adapter_image_embeds"] = self._image_embeds(slices, len(prompts))
        if init is None:
            pipe = self.pipe
            options.update(height=self.size, width=self.size)
        else:
            pipe = self.img2img_pipe
            options.update(image=init, strength=strength)
        try:
            return pipe(
                prompt=prompts,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance,
                generator=generators,
                output_type="pil",
                **options,
            ).images
        except torch.cuda.OutOfMemoryError:
            if len(prompts) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(prompts) // 2
            logger.warning(
                "GPU out of memory generating %d images: splitting the batch into %d + %d",
                len(prompts),
                half,
                len(prompts) - half,
            )
            parts = [slice(None, half), slice(half, None)]
            return [
                image
                for part in parts
                for image in self._run(
                    prompts[part],
                    generators[part],
                    None if slices is None else slices[part],
                    scale,
                    None if init is None else init[part],
                    strength,
                )
            ]

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[str],
        generators: Sequence[torch.Generator],
        slices: Sequence[Image.Image] | None = None,
        output_sizes: Sequence[tuple[int, int]] | None = None,
        scale: float | None = None,
    ) -> list[Image.Image]:
        """One image per prompt, all in one diffusion call.

        :param prompts: text prompts (an empty prompt is valid).
        :param generators: one seeded generator per prompt (each sample's noise comes from
            its own generator, so a batch gives the same images as one-by-one calls).
        :param slices: one image prompt per prompt (needs the IP-Adapter); ``None`` for
            text-only generation.
        :param output_sizes: ``(width, height)`` per prompt to resize to (bicubic).
        :param scale: IP-Adapter lambda for this call (default: ``self.scale``).
        """
        n = len(prompts)
        if len(generators) != n:
            raise InvalidInputError(f"{n} prompts but {len(generators)} generators")
        if slices is not None and len(slices) != n:
            raise InvalidInputError(f"{n} prompts but {len(slices)} slices")
        if output_sizes is not None and len(output_sizes) != n:
            raise InvalidInputError(f"{n} prompts but {len(output_sizes)} output sizes")
        if slices is not None and not self.has_ip_adapter:
            raise InvalidInputError(
                "image prompts need the IP-Adapter: load it with ip_adapter=True"
            )
        if n == 0:
            return []
        images = self._run(
            list(prompts), list(generators), None if slices is None else list(slices), scale
        )
        return _resized(images, output_sizes)

    @torch.no_grad()
    def img2img(
        self,
        prompts: Sequence[str],
        generators: Sequence[torch.Generator],
        init_images: Sequence[Image.Image],
        strength: float = 0.6,
        output_sizes: Sequence[tuple[int, int]] | None = None,
    ) -> list[Image.Image]:
        """One image per prompt, each denoised from its init image (resized to the
        generation size) after noising it to ``strength`` in (0, 1] (1: the init image is
        all but forgotten), all in one diffusion call; generators as in ``generate``.
        On a pipeline carrying the IP-Adapter, the adapter adds nothing (scale 0)."""
        n = len(prompts)
        if len(generators) != n or len(init_images) != n:
            raise InvalidInputError(
                f"{n} prompts need as many generators and init images, got "
                f"{len(generators)} and {len(init_images)}"
            )
        if not 0.0 < float(strength) <= 1.0:
            raise InvalidInputError(f"img2img strength must lie in (0, 1], got {strength}")
        if n == 0:
            return []
        init = [
            image.convert("RGB").resize((self.size, self.size), Image.Resampling.BICUBIC)
            for image in init_images
        ]
        images = self._run(list(prompts), list(generators), None, None, init, float(strength))
        return _resized(images, output_sizes)


def _resized(
    images: list[Image.Image], output_sizes: Sequence[tuple[int, int]] | None
) -> list[Image.Image]:
    if output_sizes is None:
        return images
    return [
        image if image.size == tuple(size) else image.resize(tuple(size), Image.Resampling.BICUBIC)
        for image, size in zip(images, output_sizes, strict=True)
    ]
