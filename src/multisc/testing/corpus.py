"""Caption-like sentences and tiny BARTs trained on them: correctors trained offline."""

from __future__ import annotations

import torch

from multisc.testing.common import bart_tokenizer

SUBJECTS = [
    "a dog",
    "a cat",
    "a man",
    "a woman",
    "two people",
    "a red car",
    "a boat",
    "a bird",
    "a horse",
    "a child",
    "an old bus",
    "a brown cow",
]
VERBS = ["stands", "runs", "sits", "walks", "sleeps", "waits", "plays", "rests"]
PLACES = [
    "on the grass",
    "near a river",
    "in the street",
    "on a sofa",
    "by the sea",
    "under a tree",
    "in a field",
    "next to a house",
    "on a bridge",
    "in the snow",
]


def synthetic_captions(n: int, seed: int = 0) -> list[str]:
    """Distinct caption-like sentences from templates ("a dog runs on the grass"), for
    training tiny correctors offline."""
    import random

    rng = random.Random(seed)
    sentences: list[str] = []
    seen: set[str] = set()
    limit = len(SUBJECTS) * len(VERBS) * len(PLACES)
    while len(sentences) < min(n, limit):
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}"
        if text not in seen:
            seen.add(text)
            sentences.append(text)
    return sentences


def tiny_bart_for(texts: list[str], seed: int = 0, d_model: int = 64):
    """A tiny BART (model, tokenizer) whose byte-level BPE is trained on ``texts``; for
    training a corrector from scratch in tests (default init, unlike the tiny set)."""
    from transformers import BartConfig, BartForConditionalGeneration

    tokenizer = bart_tokenizer(corpus=list(texts))
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=d_model,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return BartForConditionalGeneration(config), tokenizer
