"""The captioner: LLaVA (SigLIP vision tower + Qwen1.5 language model), in the layout of
``llava-hf/llava-interleave-qwen-0.5b-hf``."""

from __future__ import annotations

from pathlib import Path

from multisc.testing.common import hub_config, llava_processor, save_model, seed_all
from multisc.testing.sizes import INIT_RANGE, TINY, Size


def full_llava_config():
    """``LlavaConfig`` of llava-interleave-qwen-0.5b-hf from its recorded config.json."""
    from transformers import LlavaConfig, Qwen2Config, SiglipVisionConfig

    real = hub_config("captioner")
    return LlavaConfig(
        vision_config=SiglipVisionConfig(**real["vision_config"]),
        text_config=Qwen2Config(**real["text_config"]),
        **{k: v for k, v in real.items() if k not in ("vision_config", "text_config")},
    )


def _tiny_llava_config(tokenizer):
    """The real repo's structure at tiny sizes: SigLIP without its pooling head, last-layer
    features, all of them ("full"); Qwen1.5 (as many KV heads as heads)."""
    from transformers import LlavaConfig, Qwen2Config, SiglipVisionConfig

    real = hub_config("captioner")
    tiny = TINY["captioner"]
    vision = SiglipVisionConfig(
        **tiny["vision"],
        vision_use_head=real["vision_config"]["vision_use_head"],
        hidden_act=real["vision_config"]["hidden_act"],
    )
    text = Qwen2Config(
        **tiny["text"],
        vocab_size=len(tokenizer),
        num_key_value_heads=tiny["text"]["num_attention_heads"],  # Qwen1.5: KV heads = heads
        initializer_range=INIT_RANGE,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=real["text_config"]["tie_word_embeddings"],
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy=real["vision_feature_select_strategy"],
        vision_feature_layer=real["vision_feature_layer"],
        projector_hidden_act=real["projector_hidden_act"],
        initializer_range=INIT_RANGE,
    )


def build_llava(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """LLaVA + its processor (Qwen2 tokenizer, SigLIP image processor, the chat template)
    and generation config (bos/eos only; the end token ``<|im_end|>``). Full: the recorded
    ``config.json`` key by key (SigLIP so400m/14 at 384 px cut to 26 layers, 729 image
    tokens; Qwen1.5-0.5B: 24 layers, width 1024, vocabulary 152,000), saved in bf16 like the
    checkpoint, with the offline tokenizer padded so that its specials have the real ids."""
    from transformers import GenerationConfig, LlavaForConditionalGeneration

    if size == "tiny":
        vision = TINY["captioner"]["vision"]
        processor = llava_processor(vision["image_size"], vision["patch_size"])
        config = _tiny_llava_config(processor.tokenizer)
    else:
        config = full_llava_config()
        vision, text = config.vision_config, config.text_config
        processor = llava_processor(vision.image_size, vision.patch_size, text.bos_token_id)
        tokenizer = processor.tokenizer
        specials = ("<|endoftext|>", "<|im_end|>", "<image>")
        ids = [tokenizer.convert_tokens_to_ids(t) for t in specials]
        if ids != [text.bos_token_id, text.eos_token_id, config.image_token_index]:
            raise AssertionError(f"stand-in tokenizer ids {ids} differ from the real ones")
        text.pad_token_id = tokenizer.pad_token_id
    seed_all(seed)
    model = LlavaForConditionalGeneration(config).eval()
    text = config.text_config
    model.generation_config = GenerationConfig(
        bos_token_id=text.bos_token_id, eos_token_id=text.eos_token_id
    )
    directory = Path(directory)
    save_model(model, directory, size, "captioner")
    processor.save_pretrained(directory)
    return directory
