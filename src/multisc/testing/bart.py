"""The corrector: BART seq2seq, in the layout of ``oliverguhr/spelling-correction-english-
base`` (its search settings in ``config.json``, no ``generation_config.json``), so tests
meet what users of the real corrector meet."""

from __future__ import annotations

import json
from pathlib import Path

from multisc.testing.common import bart_tokenizer, hub_config, save_model, seed_all
from multisc.testing.sizes import INIT_RANGE, TINY, Size

#: Search settings that the real corrector repo keeps in config.json (recorded manifest).
CORRECTOR_SEARCH_KEYS = ("early_stopping", "no_repeat_ngram_size", "num_beams")
CORRECTOR_TOKEN_KEYS = ("forced_bos_token_id", "forced_eos_token_id", "decoder_start_token_id")


def as_real_corrector_layout(directory: str | Path) -> None:
    """Rewrite a saved BART into the corrector repo's layout: the repo's generation settings
    in ``config.json`` (token ids mapped through this model's own ids, which follow BART's
    ``<s>``=0, ``<pad>``=1, ``</s>``=2 order), and no ``generation_config.json``."""
    directory = Path(directory)
    real = hub_config("corrector")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    for key in (*CORRECTOR_SEARCH_KEYS, *CORRECTOR_TOKEN_KEYS):
        config[key] = real[key]
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    (directory / "generation_config.json").unlink(missing_ok=True)


def build_bart(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    """BART with a byte-level BPE tokenizer. Tiny: 2+2 layers, width 32; full: the recorded
    ``config.json`` (BART-base: 6+6 layers, width 768, vocabulary 50,265)."""
    from transformers import BartConfig, BartForConditionalGeneration

    if size == "tiny":
        tokenizer = bart_tokenizer()
        config = BartConfig(
            **TINY["corrector"],
            vocab_size=len(tokenizer),
            init_std=INIT_RANGE,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.eos_token_id,
            forced_eos_token_id=tokenizer.eos_token_id,
        )
    else:
        real = hub_config("corrector")
        tokenizer = bart_tokenizer(vocab_size=real["vocab_size"])
        search = (*CORRECTOR_SEARCH_KEYS, *CORRECTOR_TOKEN_KEYS)
        architecture = {k: v for k, v in real.items() if k not in search}
        config = BartConfig(**architecture, decoder_start_token_id=real["decoder_start_token_id"])
    seed_all(seed)
    directory = Path(directory)
    save_model(BartForConditionalGeneration(config).eval(), directory, size, "corrector")
    tokenizer.save_pretrained(directory)
    as_real_corrector_layout(directory)
    return directory
