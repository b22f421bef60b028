"""CLIP (the metrics' image cosine): ``openai/clip-vit-base-patch32``'s layout."""

from __future__ import annotations

from pathlib import Path

from multisc.testing.common import hub_config, save_model, seed_all
from multisc.testing.sizes import TINY, Size


def build_clip(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """``CLIPModel`` + its image processor. Tiny: 2 layers, width 32, 32x32 images; full:
    ViT-B/32 at its recorded config (text 512 wide, vision 768, patch 32, projection 512)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    seed_all(seed)
    if size == "tiny":
        tiny = TINY["clip"]
        config = CLIPConfig(
            text_config={**tiny["text"], "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1},
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
    return directory
