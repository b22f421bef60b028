"""The decoding settings every ``generate`` call in multisc states, whatever a checkpoint says.

transformers fills every setting a ``generate`` call leaves unset from the model's
``generation_config``, which it builds from the repo's ``generation_config.json`` or, when
the repo has none, from search settings left in ``config.json``. The BART corrector's repo
carries ``no_repeat_ngram_size: 3``, ``num_beams: 4`` and ``early_stopping`` that way: a
corrector decoding with them must alter any caption that repeats a three-token phrase.

So each model's ``generation_config`` is *replaced* by ``stated_config``: the search
settings are ours (listed in full below, every one given a value, so nothing falls back to
the checkpoint), and only the structural token ids (start, end, padding, forced first and
last tokens: how the model was trained to frame a sequence) are taken from the checkpoint.
"""

from __future__ import annotations

from typing import Any

#: Token ids that describe how a checkpoint frames sequences: kept from the checkpoint.
STRUCTURAL = (
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "decoder_start_token_id",
    "forced_bos_token_id",
    "forced_eos_token_id",
)

#: Search settings that change which sequence comes out: always stated, never inherited.
NEUTRAL: dict[str, Any] = {
    "do_sample": False,
    "num_beams": 1,
    "early_stopping": False,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "min_length": 0,
    "min_new_tokens": None,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "num_return_sequences": 1,
}


def stated_config(model, **settings: Any):
    """A ``GenerationConfig`` with ``NEUTRAL`` search settings overridden by ``settings``
    (e.g. ``max_new_tokens=60`` or ``num_beams=4``), and the checkpoint's structural ids.

    :param model: a transformers model with a ``generation_config``.
    """
    from transformers import GenerationConfig

    unknown = set(settings) - set(NEUTRAL) - {"max_length", "max_new_tokens"}
    if unknown:
        raise TypeError(f"not a search setting multisc states: {sorted(unknown)}")
    checkpoint = getattr(model, "generation_config", None)
    structural = {
        key: getattr(checkpoint, key, None)
        for key in STRUCTURAL
        if getattr(checkpoint, key, None) is not None
    }
    return GenerationConfig(**{**NEUTRAL, **settings, **structural})


def state_settings(model, **settings: Any) -> None:
    """Replace ``model.generation_config`` with ``stated_config`` (so that a later
    ``save_pretrained`` writes the stated settings, not the checkpoint's), and that of every
    sub-model that generates on its own (BLIP's ``generate`` calls its text decoder's)."""
    for module in model.modules():
        if module is model or getattr(module, "generation_config", None) is not None:
            module.generation_config = stated_config(module, **settings)
