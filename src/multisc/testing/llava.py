"""The captioner: LLaVA (SigLIP vision tower + Qwen1.5 language model), in the layout of
``llava-hf/llava-interleave-qwen-0.5b-hf``."""

from __future__ import annotations

from pathlib import Path

from multisc.testing.common import hub_config, llava_processor, save_model, seed_all
from multisc.testing.files import save_vlm
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


#: llava-1.5-7b-hf's chat template (its chat_template.json, as the manifest's page shows it)
LLAVA15_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def llava15_processor(image_size: int, vocab_size: int | None = None):
    """LLaVA-1.5's processor: a Llama (SentencePiece-style BPE, byte fallback) tokenizer,
    CLIP's image processor (resize the shorter side, centre crop) and the chat template.
    With ``vocab_size`` (full size) the vocabulary is padded so that ``<image>`` and
    ``<pad>`` get the real ids 32000 and 32001."""
    from transformers import CLIPImageProcessor, LlamaTokenizer, LlavaProcessor

    from multisc.testing.common import llama_vocab, pad_vocab

    vocab, merges = llama_vocab()
    if vocab_size is not None:
        vocab = pad_vocab(vocab, vocab_size, prefix="\u2581")
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, legacy=False)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=LLAVA15_CHAT_TEMPLATE
    )


def full_llava15_config():
    """``LlavaConfig`` of llava-1.5-7b-hf from its recorded config.json (CLIP ViT-L/14 at
    336 px; Vicuna-7B, whose sizes are ``LlamaConfig``'s defaults: 32 layers, width 4096)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    real = hub_config("llava-1.5-7b")
    return LlavaConfig(
        vision_config=CLIPVisionConfig(**real["vision_config"]),
        text_config=LlamaConfig(**real["text_config"]),
        **{k: v for k, v in real.items() if k not in ("vision_config", "text_config")},
    )


def build_llava15(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """LLaVA-1.5-7B in ``llava-hf/llava-1.5-7b-hf``'s layout: three safetensors shards with
    their index (fp16 at full size, llava-hf's key names), CLIP's image processor, a Llama
    tokenizer, the ``USER: <image>\\n... ASSISTANT:`` template, and no
    ``processor_config.json`` (the pinned tree has none: patch size and feature strategy
    come from ``config.json``). Full: the recorded config (7.06 B parameters, 14.1 GB)."""
    from transformers import (
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    real = hub_config("llava-1.5-7b")
    if size == "tiny":
        vision = TINY["captioner"]["vision"]
        processor = llava15_processor(vision["image_size"])
        tokenizer = processor.tokenizer
        config = LlavaConfig(
            vision_config=CLIPVisionConfig(**vision, projection_dim=16),
            text_config=LlamaConfig(
                **TINY["captioner"]["text"],
                vocab_size=len(tokenizer),
                num_key_value_heads=TINY["captioner"]["text"]["num_attention_heads"],
                initializer_range=INIT_RANGE,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            ),
            image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
            pad_token_id=tokenizer.pad_token_id,
            vision_feature_select_strategy=real["vision_feature_select_strategy"],
            vision_feature_layer=real["vision_feature_layer"],
            projector_hidden_act=real["projector_hidden_act"],
            tie_word_embeddings=False,
            initializer_range=INIT_RANGE,
        )
    else:
        config = full_llava15_config()
        processor = llava15_processor(config.vision_config.image_size, vocab_size=32000)
        tokenizer = processor.tokenizer
        ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<image>", "<pad>")]
        if ids != [config.image_token_index, config.pad_token_id]:
            raise AssertionError(f"stand-in tokenizer ids {ids} differ from the real ones")
    seed_all(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # the pinned tree's layout: preprocessor_config.json, chat_template.json, and no
    # processor_config.json
    return save_vlm(model, processor, Path(directory), size, "llava-1.5-7b", False)
