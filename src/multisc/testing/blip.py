"""The VLM-CSC captioner: BLIP (``Salesforce/blip-image-captioning-base``'s layout)."""

from __future__ import annotations

from pathlib import Path

from multisc.testing.common import CORPUS, filler_words, hub_config, save_model, seed_all
from multisc.testing.sizes import INIT_RANGE, TINY, Size


def _processor(directory: Path, side: int, vocab_size: int | None):
    """A BLIP processor with a WordPiece tokenizer over the corpus' words (padded with
    filler words to ``vocab_size``: the real vocabulary's size for the full stand-in)."""
    from transformers import BertTokenizer, BlipImageProcessor, BlipProcessor

    directory.mkdir(parents=True, exist_ok=True)
    words = sorted({w.strip(".,") for line in CORPUS for w in line.split()})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    entries = specials + words + list(".,")
    if vocab_size is not None:
        entries += [w for w in filler_words(vocab_size) if w not in set(entries)]
        entries = entries[:vocab_size]
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(entries) + "\n")
    tokenizer = BertTokenizer(str(vocab_file), bos_token="[DEC]")
    vocab_file.unlink()
    image_processor = BlipImageProcessor(size={"height": side, "width": side})
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_blip(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """BLIP captioning. Tiny: 2 layers, width 32; full: ViT-B/16 at 384 px and a BERT-base
    text decoder at their recorded configs, vocabulary 30,524."""
    from transformers import BlipConfig, BlipForConditionalGeneration

    directory = Path(directory)
    real = hub_config("vlm_captioner") if size == "full" else None
    if real is None:
        tiny = TINY["vlm_captioner"]
        processor = _processor(directory, tiny["vision"]["image_size"], None)
    else:
        side = real["vision_config"]["image_size"]
        processor = _processor(directory, side, real["text_config"]["vocab_size"])
    tokenizer = processor.tokenizer
    tokens = {
        "bos_token_id": tokenizer.convert_tokens_to_ids("[DEC]"),
        "sep_token_id": tokenizer.sep_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.sep_token_id,
    }
    if real is None:
        config = BlipConfig(
            text_config={
                **tiny["text"],
                "vocab_size": len(tokenizer),
                "initializer_range": INIT_RANGE,
                **tokens,
            },
            vision_config={**tiny["vision"], "initializer_range": INIT_RANGE},
            projection_dim=tiny["projection_dim"],
            initializer_range=INIT_RANGE,
        )
    else:
        config = BlipConfig(
            text_config={**real["text_config"], **tokens}, vision_config=real["vision_config"]
        )
    seed_all(seed)
    save_model(BlipForConditionalGeneration(config).eval(), directory, size, "vlm_captioner")
    processor.save_pretrained(directory)
    return directory
