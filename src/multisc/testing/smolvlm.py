"""A current small captioner: SmolVLM (``HuggingFaceTB/SmolVLM-256M-Instruct``'s layout:
Idefics3, a SigLIP tower, pixel shuffle, a SmolLM2 language model with its own ``lm_head``)."""

from __future__ import annotations

from pathlib import Path

from multisc.testing.common import filler_words, hub_config, seed_all, train_bpe
from multisc.testing.files import save_vlm
from multisc.testing.sizes import INIT_RANGE, TINY, Size

#: SmolLM2's first tokens (ids 0, 1, 2)
SMOL_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
#: the layout of SmolVLM's chat template: ``User:<image>...<end_of_utterance>\nAssistant:``
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
#: the image tokens Idefics3's processor writes, in the order the stand-in adds them (the
#: real ids: ``<image>`` 49190, ``<end_of_utterance>`` 49279 at full size)
IMAGE_TAGS = [
    "<global-img>",
    *(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)),
    "<fake_token_around_image>",
    "<image>",
]


def smolvlm_processor(image_size: int, image_seq_len: int, vocab_size: int | None = None):
    """Idefics3's processor: a byte-level BPE tokenizer (GPT-2's class, as SmolLM2's),
    Idefics3's image processor (tiles of ``image_size`` px and a global view) and the
    chat template. With ``vocab_size`` (full size: 49,280) the vocabulary is padded so
    that the image tokens and ``<end_of_utterance>`` take the recorded ids."""
    from transformers import GPT2Tokenizer, Idefics3ImageProcessor, Idefics3Processor

    from multisc.testing.common import pad_vocab

    vocab, merges = train_bpe(300, SMOL_SPECIALS)
    if vocab_size is not None:
        vocab = pad_vocab(vocab, 49152)
    for token in IMAGE_TAGS:
        vocab[token] = len(vocab)
    if vocab_size is not None:  # fillers up to the last id, <end_of_utterance>
        for word in filler_words(vocab_size):
            if len(vocab) >= vocab_size - 1:
                break
            vocab.setdefault(f"<extra_{word}>", len(vocab))
    vocab["<end_of_utterance>"] = len(vocab)
    tokenizer = GPT2Tokenizer(
        vocab=vocab, merges=merges, unk_token="<|endoftext|>", bos_token="<|im_start|>",
        eos_token="<end_of_utterance>", pad_token="<|im_end|>",
    )  # fmt: skip
    tokenizer.add_special_tokens({"additional_special_tokens": [*IMAGE_TAGS, "<end_of_utterance>"]})
    image_processor = Idefics3ImageProcessor(
        size={"longest_edge": 4 * image_size}, max_image_size={"longest_edge": image_size}
    )
    return Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )


def build_smolvlm(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """SmolVLM + its processor and generation config, in the published layout
    (``preprocessor_config.json`` beside a small ``processor_config.json``,
    ``chat_template.json``). Full: the recorded config (SigLIP-B/16 at 512 px, 12 layers;
    SmolLM2-135M: 30 layers, width 576, vocabulary 49,280; pixel shuffle 4: 64 tokens a
    tile), bf16 with its own ``lm_head``: the 513 MB file."""
    from transformers import (
        GenerationConfig,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3VisionConfig,
        LlamaConfig,
    )

    real = hub_config("smolvlm-256m")
    if size == "tiny":
        vision = {**TINY["captioner"]["vision"]}
        scale = 2
        seq = (vision["image_size"] // vision["patch_size"]) ** 2 // scale**2
        processor = smolvlm_processor(vision["image_size"], seq)
        text = {
            **TINY["captioner"]["text"], "vocab_size": len(processor.tokenizer),
            "num_key_value_heads": 2, "initializer_range": INIT_RANGE,
        }  # fmt: skip
        vision["initializer_range"] = INIT_RANGE
    else:
        vision, text, scale = real["vision_config"], real["text_config"], real["scale_factor"]
        seq = (vision["image_size"] // vision["patch_size"]) ** 2 // scale**2
        processor = smolvlm_processor(vision["image_size"], seq, text["vocab_size"])
    tokenizer = processor.tokenizer
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    end = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    if size == "full" and (image_id, end) != (real["image_token_id"], 49279):
        raise AssertionError(f"stand-in tokenizer ids {(image_id, end)} differ from the real ones")
    config = Idefics3Config(
        vision_config=Idefics3VisionConfig(**vision),
        text_config=LlamaConfig(**{**text, "pad_token_id": tokenizer.pad_token_id}),
        scale_factor=scale,
        image_token_id=image_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    seed_all(seed)
    model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=end, pad_token_id=tokenizer.pad_token_id
    )
    return save_vlm(model, processor, Path(directory), size, "smolvlm-256m", True)
