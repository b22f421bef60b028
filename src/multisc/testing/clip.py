"""CLIP (the metrics' image cosine): ``openai/clip-vit-base-patch32``'s layout."""

from __future__ import annotations

from pathlib import Path

from multisc.testing.common import clip_tokenizer, hub_config, save_model, seed_all
from multisc.testing.sizes import TINY, Size


def build_clip(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """``CLIPModel``, its image processor and a tokenizer (a small BPE vocabulary of the
    real one's format, ``CLIPTokenizer``'s files; the receiver's candidate selection
    reads it). Tiny: 2 layers, width 32, 32x32 images; full: ViT-B/32 at its recorded
    config (text 512 wide, vision 768, patch 32, projection 512)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    seed_all(seed)
    tokenizer = clip_tokenizer()
    if size == "tiny":
        tiny = TINY["clip"]
        ids = {
            "vocab_size": len(tokenizer),
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
        config = CLIPConfig(
            text_config={**tiny["text"], **ids},
            vision_config=tiny["vision"],
            projection_dim=tiny["projection_dim"],
        )
        side = tiny["image_side"]
    else:
        config = CLIPConfig(**hub_config("clip"))
        side = hub_config("clip", "preprocessor_config.json")["crop_size"]
    directory = Path(directory)
    save_model(CLIPModel(config).eval(), directory, size, "clip")
    CLIPImageProcessor(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    ).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
