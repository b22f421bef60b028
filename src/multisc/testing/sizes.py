"""The one size table of the stand-in components: ``tiny`` (a few layers, for tests)
or ``full`` (each component's published configuration, read key by key from the recorded
Hub manifests of ``multisc.models``).

Tiny sizes are written here; full ones are not: they are the real checkpoints' configs,
so a change upstream shows up in the manifests, not in a second copy of them.
"""

from __future__ import annotations

from typing import Literal

Size = Literal["tiny", "full"]
SIZES: tuple[str, ...] = ("tiny", "full")

#: init range of tiny models' weights: with the default 0.02 tiny decoders repeat one token
#: forever and batched-vs-unbatched checks would prove nothing
INIT_RANGE = 0.5

#: a tiny transformer stack (text or vision)
TINY_STACK = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}
#: a tiny vision tower: 32x32 images in 8x8 patches
TINY_VISION = {**TINY_STACK, "image_size": 32, "patch_size": 8}

TINY = {
    "clip": {
        "text": {**TINY_STACK, "vocab_size": 99, "max_position_embeddings": 77},
        "vision": TINY_VISION,
        "projection_dim": 16,
        "image_side": 32,
    },
    "captioner": {"vision": TINY_VISION, "text": {**TINY_STACK, "max_position_embeddings": 256}},
    "vlm_captioner": {
        "vision": TINY_VISION,
        "text": {**TINY_STACK, "encoder_hidden_size": 32},
        "projection_dim": 16,
    },
    "corrector": {
        "d_model": 32,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 4,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 37,
        "decoder_ffn_dim": 37,
        "max_position_embeddings": 256,
    },
    "generator": {
        "unet": {
            "block_out_channels": (32, 64),
            "layers_per_block": 1,
            "sample_size": 16,
            "in_channels": 4,
            "out_channels": 4,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
            "cross_attention_dim": 32,
            "norm_num_groups": 16,
        },
        "vae": {
            "block_out_channels": [16, 32],
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
            "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
            "latent_channels": 4,
            "norm_num_groups": 16,
            "sample_size": 32,
        },
        "text_encoder": {**TINY_STACK, "hidden_size": 32, "max_position_embeddings": 77},
        "scheduler": {"skip_prk_steps": True, "steps_offset": 1},
    },
    "ip_adapter": {
        "image_encoder": {**TINY_VISION, "projection_dim": 24},
        "tokens": 4,  # IP-Adapter (not Plus) projects one image embedding to 4 tokens
        "plus_tokens": 4,  # IP-Adapter Plus: latent queries of its resampler (16 full size)
        "weight_std": 0.2,
    },
}
