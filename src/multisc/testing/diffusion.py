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


def _resampler(width: int, embed: int, queries: int, heads: int) -> dict[str, torch.Tensor]:
    """IP-Adapter Plus's ``image_proj``: the Resampler of the original code (``latents``,
    ``proj_in``, 4 layers of perceiver attention (``norm1``, ``norm2``, ``to_q``, ``to_kv``,
    ``to_out``, 64 per head) and a feed-forward (LayerNorm, x4, GELU), ``proj_out``,
    ``norm_out``), keys as the published file has them (diffusers renames them on load)."""
    inner, std = 64 * heads, 0.02
    weights = {
        "latents": torch.randn(1, queries, width) / width**0.5,
        "proj_in.weight": torch.randn(width, embed) * std,
        "proj_in.bias": torch.zeros(width),
        "proj_out.weight": torch.randn(width, width) * std,
        "proj_out.bias": torch.zeros(width),
        "norm_out.weight": torch.ones(width),
        "norm_out.bias": torch.zeros(width),
    }
    for layer in range(4):  # diffusers builds 4 layers whatever the file holds
        prefix = f"layers.{layer}"
        for norm in ("norm1", "norm2"):
            weights[f"{prefix}.0.{norm}.weight"] = torch.ones(width)
            weights[f"{prefix}.0.{norm}.bias"] = torch.zeros(width)
        weights[f"{prefix}.0.to_q.weight"] = torch.randn(inner, width) * std
        weights[f"{prefix}.0.to_kv.weight"] = torch.randn(2 * inner, width) * std
        weights[f"{prefix}.0.to_out.weight"] = torch.randn(width, inner) * std
        weights[f"{prefix}.1.0.weight"] = torch.ones(width)
        weights[f"{prefix}.1.0.bias"] = torch.zeros(width)
        weights[f"{prefix}.1.1.weight"] = torch.randn(4 * width, width) * std
        weights[f"{prefix}.1.3.weight"] = torch.randn(width, 4 * width) * std
    return {f"image_proj.{k}": v for k, v in weights.items()}


def build_ip_adapter(
    directory: str | Path, size: Size = "tiny", seed: int = 0, plus: bool = False
) -> Path:
    """An IP-Adapter for the generator of the same size: ``image_proj.*`` (one image
    embedding to 4 tokens; with ``plus``, IP-Adapter Plus's resampler of the encoder's
    patch embeddings to 16 queries) and one ``to_k_ip``/``to_v_ip`` pair per
    cross-attention layer, beside a ``CLIPVisionModelWithProjection`` image encoder. Full:
    the OpenCLIP ViT-H/14 encoder's recorded config (32 layers, width 1280, projection
    1024), SD 1.5's 16 cross-attention layers: the encoder in fp32, the adapter in fp16,
    as published (44,642,768 B; Plus: 98,183,288 B)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from multisc.models import manifest

    component = "ip_adapter_plus" if plus else "ip_adapter"
    seed_all(seed)
    if size == "tiny":
        tiny = TINY["ip_adapter"]
        encoder_config = tiny["image_encoder"]
        tokens, std = tiny["plus_tokens" if plus else "tokens"], tiny["weight_std"]
        width = TINY["generator"]["unet"]["cross_attention_dim"]
        embed = encoder_config["hidden_size" if plus else "projection_dim"]
        heads = 1
    else:
        encoder_config = hub_config(component, "models/image_encoder/config.json")
        adapter = manifest(component)["adapter"]
        width, tokens = adapter["cross_attention_dim"], adapter["tokens"]
        embed, std, heads = adapter["image_embed_dim"], 0.02, adapter.get("heads", 1)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**encoder_config))
    directory = Path(directory)
    models = directory / "models"
    save_model(encoder, models / "image_encoder", size, "image_encoder")
    if plus:
        weights = _resampler(width, embed, tokens, heads)
    else:
        weights = {
            "image_proj.proj.weight": torch.randn(width * tokens, embed) * std,
            "image_proj.proj.bias": (
                torch.randn(width * tokens) * std if size == "tiny" else torch.zeros(width * tokens)
            ),
            "image_proj.norm.weight": torch.ones(width),
            "image_proj.norm.bias": torch.zeros(width),
        }
    for key_id, hidden in enumerate(cross_attention_widths(unet_config(size))):
        for name in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{2 * key_id + 1}.{name}.weight"] = torch.randn(hidden, width) * std
    # the published adapters are fp16 (22.3 M parameters in 44,642,768 bytes)
    dtype = torch.float16 if size == "full" else torch.float32
    file = "ip-adapter-plus_sd15.safetensors" if plus else "ip-adapter_sd15.safetensors"
    write_weights({k: v.to(dtype) for k, v in weights.items()}, models / file)
    return directory


def build_ip_adapter_plus(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """IP-Adapter Plus ([build_ip_adapter][multisc.testing.diffusion.build_ip_adapter] with
    ``plus``), in ``h94/IP-Adapter``'s layout."""
    return build_ip_adapter(directory, size, seed, plus=True)


#: the modules LCM-LoRA adapts (diffusers' LCM-LoRA distillation script's list)
LCM_TARGETS = (
    "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
    "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv",
    "time_emb_proj",
)  # fmt: skip


def build_lcm_lora(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """An LCM-LoRA for the generator of the same size, as ``latent-consistency/
    lcm-lora-sdv1-5``'s ``pytorch_lora_weights.safetensors`` holds it: kohya keys
    (``lora_unet_<module>.lora_down.weight``, ``.lora_up.weight``, ``.alpha``) for every
    Linear and Conv2d of ``LCM_TARGETS`` in the UNet, fp16. Full: rank 64 over SD 1.5's UNet:
    278 layers, 834 tensors, the 134.6 MB file; tiny: rank 4, fp32. ``lora_up`` is random
    (not zero as a fresh LoRA's) so that fusing it changes the UNet."""
    from diffusers import UNet2DConditionModel

    seed_all(seed)
    rank = 64 if size == "full" else 4
    dtype = torch.float16 if size == "full" else torch.float32
    with torch.device("meta"):
        unet = UNet2DConditionModel(**unet_config(size))
    weights: dict[str, torch.Tensor] = {}
    for name, module in unet.named_modules():
        if not any(name == t or name.endswith("." + t) for t in LCM_TARGETS):
            continue
        if isinstance(module, torch.nn.Linear):
            down, up = (rank, module.in_features), (module.out_features, rank)
        elif isinstance(module, torch.nn.Conv2d):
            down = (rank, module.in_channels, *module.kernel_size)
            up = (module.out_channels, rank, 1, 1)
        else:
            continue
        key = "lora_unet_" + name.replace(".", "_")
        weights[f"{key}.lora_down.weight"] = torch.randn(down) * 0.02
        weights[f"{key}.lora_up.weight"] = torch.randn(up) * 0.02
        weights[f"{key}.alpha"] = torch.tensor(float(rank))
    directory = Path(directory)
    write_weights(
        {k: v.to(dtype) for k, v in weights.items()}, directory / "pytorch_lora_weights.safetensors"
    )
    return directory
