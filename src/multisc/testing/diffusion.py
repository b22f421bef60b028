"""The generator (Stable Diffusion 1.5's pipeline layout) and its IP-Adapter
(``h94/IP-Adapter``'s layout: ``models/ip-adapter_sd15.safetensors`` beside
``models/image_encoder``)."""

from __future__ import annotations

from pathlib import Path

import torch

from multisc.testing.common import clip_tokenizer, hub_config, save_model, seed_all
from multisc.testing.files import save_diffusers_model, write_weights
from multisc.testing.sizes import TINY, Size


def unet_config(size: Size) -> dict:
    """The UNet's configuration: tiny (blocks 32-64, cross-attention 32) or SD 1.5's
    recorded one (320-640-1280-1280, cross-attention 768)."""
    if size == "tiny":
        return dict(TINY["generator"]["unet"])
    return hub_config("generator", "unet/config.json")


def cross_attention_widths(config: dict) -> list[int]:
    """Widths of a UNet's cross-attention layers, in ``unet.attn_processors`` order (the
    order IP-Adapter numbers its ``to_k_ip``/``to_v_ip`` pairs 1, 3, 5, ...)."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(**config)
    channels = unet.config.block_out_channels
    widths = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            widths.append(channels[-1])
        elif name.startswith("up_blocks"):
            widths.append(list(reversed(channels))[int(name[len("up_blocks.")])])
        else:
            widths.append(channels[int(name[len("down_blocks.")])])
    return widths


def build_stable_diffusion(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """A ``StableDiffusionPipeline`` (UNet, VAE, CLIP text encoder and tokenizer, PNDM
    scheduler; no safety checker), in the layout of ``stable-diffusion-v1-5``. Full: SD 1.5
    at its recorded configs key by key (860 M-parameter UNet), in fp32 like the published
    files."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    seed_all(seed)
    tiny = TINY["generator"]
    unet = UNet2DConditionModel(**unet_config(size))
    vae = AutoencoderKL(
        **(tiny["vae"] if size == "tiny" else hub_config("generator", "vae/config.json"))
    )
    tokenizer = clip_tokenizer()
    text = (
        {**tiny["text_encoder"], "vocab_size": len(tokenizer)}
        if size == "tiny"
        else hub_config("generator", "text_encoder/config.json")
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            **text,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = PNDMScheduler(
        **(tiny["scheduler"] if size == "tiny" else
           hub_config("generator", "scheduler/scheduler_config.json"))
    )  # fmt: skip
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    # the repo's layout, each part in its published file and dtype (fp32)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_config(directory)  # model_index.json
    save_diffusers_model(unet, directory / "unet")
    save_diffusers_model(vae, directory / "vae")
    save_model(text_encoder, directory / "text_encoder", size, "text_encoder")
    tokenizer.save_pretrained(directory / "tokenizer")
    scheduler.save_pretrained(directory / "scheduler")
    return directory


def build_ip_adapter(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """An IP-Adapter for the generator of the same size: ``image_proj.*`` (one image
    embedding to 4 tokens) and one ``to_k_ip``/``to_v_ip`` pair per cross-attention layer,
    beside a ``CLIPVisionModelWithProjection`` image encoder. Full: the OpenCLIP ViT-H/14
    encoder's recorded config (32 layers, width 1280, projection 1024), 4 x 768 tokens and
    SD 1.5's 16 cross-attention layers: the encoder in fp32, the projection in fp16, as
    published."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from multisc.models import manifest

    seed_all(seed)
    if size == "tiny":
        tiny = TINY["ip_adapter"]
        encoder_config = tiny["image_encoder"]
        tokens, std = tiny["tokens"], tiny["weight_std"]
        width = TINY["generator"]["unet"]["cross_attention_dim"]
        embed = encoder_config["projection_dim"]
    else:
        encoder_config = hub_config("ip_adapter", "models/image_encoder/config.json")
        adapter = manifest("ip_adapter")["adapter"]
        width, tokens = adapter["cross_attention_dim"], adapter["tokens"]
        embed, std = adapter["image_embed_dim"], 0.02
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**encoder_config))
    directory = Path(directory)
    models = directory / "models"
    save_model(encoder, models / "image_encoder", size, "image_encoder")
    if size == "tiny":
        weights = {
            "image_proj.proj.weight": torch.randn(width * tokens, embed) * std,
            "image_proj.proj.bias": torch.randn(width * tokens) * std,
        }
    else:
        weights = {
            "image_proj.proj.weight": torch.randn(width * tokens, embed) * std,
            "image_proj.proj.bias": torch.zeros(width * tokens),
        }
    weights["image_proj.norm.weight"] = torch.ones(width)
    weights["image_proj.norm.bias"] = torch.zeros(width)
    for key_id, hidden in enumerate(cross_attention_widths(unet_config(size))):
        for name in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{2 * key_id + 1}.{name}.weight"] = torch.randn(hidden, width) * std
    # the published projection is fp16 (22.3 M parameters in 44,642,768 bytes)
    dtype = torch.float16 if size == "full" else torch.float32
    write_weights(
        {k: v.to(dtype) for k, v in weights.items()}, models / "ip-adapter_sd15.safetensors"
    )
    return directory
