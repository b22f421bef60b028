"""Tiny random components of the real classes, for tests and offline smoke runs.

In the spirit of diffusers' ``get_dummy_components``: the same classes as the
pretrained components, a few layers wide, saved with ``save_pretrained`` so they load
back through exactly the path users take (``--models DIR`` -> ``DIR/<component>``).
Their outputs mean nothing; their code paths are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_clip(directory: str | Path, seed: int = 0) -> Path:
    """A tiny ``CLIPModel`` (2 layers, width 32, 32x32 images) + its image processor.

    Writes ``directory`` in the layout of ``openai/clip-vit-base-patch32``.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={
            "vocab_size": 99,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        projection_dim=16,
    )
    directory = Path(directory)
    CLIPModel(config).eval().save_pretrained(directory)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(directory)
    return directory
