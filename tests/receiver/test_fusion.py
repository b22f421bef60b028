import pytest

from multisc.receiver.fusion import fuse_texts

LONG = "a brown dog runs across a green field of grass near an old stone bridge over a river"


@pytest.fixture(scope="module")
def tokenizer(tiny_models):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(
        tiny_models / "generator" / "tokenizer", local_files_only=True
    )


def count(tokenizer, text):
    return len(tokenizer(text)["input_ids"])


def test_fused_prompt_fits_77_tokens_with_every_block_present(tokenizer):
    texts = [LONG * 2, "a cat sleeps", LONG, "two people ride bicycles " * 6]
    fused = fuse_texts(texts, tokenizer)
    assert count(tokenizer, fused) <= 77
    parts = fused.split(". ")
    assert len(parts) == 4
    for part, text in zip(parts, texts, strict=True):
        assert text.startswith(part)  # each block is a prefix of its text, cut at a word
    assert parts[1] == "a cat sleeps"  # short blocks are kept whole


def test_long_blocks_are_shortened_fairly(tokenizer):
    fused = fuse_texts([LONG * 3] * 4, tokenizer)
    lengths = [count(tokenizer, p) for p in fused.split(". ")]
    assert max(lengths) - min(lengths) <= 3
    assert count(tokenizer, fused) >= 77 - 12  # the budget is used, not wasted


def test_short_texts_are_kept_whole_and_empty_blocks_skipped(tokenizer):
    assert fuse_texts(["a dog", "", "a cat"], tokenizer) == "a dog. a cat"
    assert fuse_texts(["", ""], tokenizer) == ""


def test_position_prefixes_are_optional_and_cost_words(tokenizer):
    texts = [LONG] * 4
    positions = ["top left", "top right", "bottom left", "bottom right"]
    with_positions = fuse_texts(texts, tokenizer, positions=positions)
    assert with_positions.startswith("top left: ") and count(tokenizer, with_positions) <= 77
    words = len(fuse_texts(texts, tokenizer).split())
    assert len(with_positions.split()) - 2 * 4 - 1 < words  # prefixes displace caption words


def test_garbage_blocks_without_spaces_are_each_kept_in_part(tokenizer):
    import random
    import string

    rng = random.Random(0)
    noise = string.ascii_letters + "~#@!?+*"  # channel noise: long words, no spaces
    texts = ["".join(rng.choice(noise) for _ in range(200)) for _ in range(3)] + ["a cat"]
    fused = fuse_texts(texts, tokenizer)
    assert count(tokenizer, fused) <= 77
    parts = fused.split(". ")
    assert len(parts) == 4 and parts[3] == "a cat"
    for part, text in zip(parts, texts, strict=True):
        assert part and text.startswith(part)  # every block represented, cut inside a word
