"""Spelling correction of received texts: BART seq2seq (the paper), SymSpell, or none."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch

from multisc.decoding import state_settings
from multisc.models import load_model_and_processor


class Corrector(Protocol):
    """Turns received (misspelled) texts into corrected ones, one for one."""

    name: str

    def correct(self, texts: Sequence[str]) -> list[str]: ...


class NoCorrector:
    """Leaves texts as received."""

    name = "none"

    def correct(self, texts: Sequence[str]) -> list[str]:
        return list(texts)


class SymSpellCorrector:
    """SymSpell with a bigram language model: context-aware, real and offline.

    SymSpell (symspellpy, its bundled 82,765-word frequency dictionary) proposes every
    dictionary word within ``max_edit_distance`` of each received word; a Viterbi search
    then picks the sequence that maximises

        sum_i  log P(w_i | w_{i-1}) - edit_cost * distance(received_i, w_i)

    with bigram probabilities from symspellpy's bundled 243,342-bigram dictionary and
    "stupid backoff" (0.4) to unigram frequencies. symspellpy's own ``lookup_compound``
    picks each word by frequency alone ("a dgo" -> "a do"); the bigram context turns it
    into "a dog". A word with no candidate at all goes through ``lookup_compound``, which
    can split words that a corrupted space merged. Output is lower case, punctuation
    dropped (as SymSpell's compound lookup does).
    """

    name = "symspell"

    def __init__(self, max_edit_distance: int = 2, edit_cost: float = 9.2) -> None:
        from importlib.resources import files

        from symspellpy import SymSpell

        self.max_edit_distance = int(max_edit_distance)
        self.edit_cost = float(edit_cost)  # ln(10^4): an edit costs as much as 1:10^4 odds
        self._symspell = SymSpell(max_dictionary_edit_distance=self.max_edit_distance)
        root = files("symspellpy")
        self._symspell.load_dictionary(
            str(root / "frequency_dictionary_en_82_765.txt"), term_index=0, count_index=1
        )
        self._symspell.load_bigram_dictionary(
            str(root / "frequency_bigramdictionary_en_243_342.txt"), term_index=0, count_index=2
        )
        self._total = float(sum(self._symspell.words.values()))

    def _candidates(self, token: str) -> list[tuple[str, int]]:
        from symspellpy import Verbosity

        if not token.isalpha():
            return [(token, 0)]
        found = self._symspell.lookup(token, Verbosity.ALL, self.max_edit_distance)
        if not found:
            merged = self._symspell.lookup_compound(token, self.max_edit_distance)
            return [(merged[0].term if merged else token, 0)]
        return [(item.term, item.distance) for item in found[:25]]

    def _log_prob(self, previous: str | None, word: str) -> float:
        import math

        words = self._symspell.words
        unigram = words.get(word, 0)
        if previous is not None and previous in words:
            pair = self._symspell.bigrams.get(f"{previous} {word}")
            if pair:
                return math.log(pair / words[previous])
        backoff = 0.4 if previous is not None else 1.0
        return math.log(backoff * max(unigram, 1) / self._total)

    def _correct_one(self, text: str) -> str:
        import re

        tokens = re.findall(r"[a-z]+|[0-9]+", text.lower())
        if not tokens:
            return ""
        # Viterbi: best[word] = (score, path) over the candidates of the current token
        best: dict[str, tuple[float, list[str]]] = {}
        for word, distance in self._candidates(tokens[0]):
            score = self._log_prob(None, word.split()[0]) - self.edit_cost * distance
            best[word] = (score, [word])
        for token in tokens[1:]:
            step: dict[str, tuple[float, list[str]]] = {}
            for word, distance in self._candidates(token):
                first = word.split()[0]
                score, path = max(
                    (prev_score + self._log_prob(prev.split()[-1], first), prev_path)
                    for prev, (prev_score, prev_path) in best.items()
                )
                step[word] = (score - self.edit_cost * distance, [*path, word])
            best = step
        return " ".join(max(best.values())[1])

    def correct(self, texts: Sequence[str]) -> list[str]:
        return [self._correct_one(text) if text.strip() else "" for text in texts]


class BartCorrector:
    """A BART seq2seq spelling corrector (``AutoModelForSeq2SeqLM`` + ``generate``), batched.

    Default weights: ``oliverguhr/spelling-correction-english-base`` (registry component
    ``corrector``); a model fine-tuned with ``multisc corrector train`` loads the same way.
    """

    name = "bart"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        max_length: int = 256,
        num_beams: int = 1,
        batch_size: int = 32,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        # never past the model's position table: a model that does not emit its end token
        # (a fine-tune after a few steps) would otherwise index beyond it and crash
        positions = getattr(model.config, "max_position_embeddings", None)
        self.max_length = int(max_length if not positions else min(max_length, positions))
        self.num_beams = int(num_beams)
        self.batch_size = int(batch_size)
        # The corrector repo's config.json carries no_repeat_ngram_size 3, num_beams 4 and
        # early_stopping, which transformers would apply: a caption that repeats a
        # three-word phrase would have to change. The settings used are the ones stated here.
        state_settings(self.model, max_length=self.max_length, num_beams=self.num_beams)

    @classmethod
    def from_pretrained(
        cls,
        models_dir: str | Path | None = None,
        device: torch.device | str | None = None,
        **kwargs,
    ) -> BartCorrector:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        model, tokenizer = load_model_and_processor(
            "corrector",
            AutoModelForSeq2SeqLM.from_pretrained,
            AutoTokenizer.from_pretrained,
            models_dir,
            device,
        )
        return cls(model, tokenizer, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def correct(self, texts: Sequence[str]) -> list[str]:
        """Corrected texts; empty inputs stay empty (no model call)."""
        out = list(texts)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        for start in range(0, len(todo), self.batch_size):
            indices = todo[start : start + self.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in indices],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            ).to(self.device)
            generated = self.model.generate(**batch, generation_config=self.model.generation_config)
            decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            for i, text in zip(indices, decoded, strict=True):
                out[i] = text.strip()
        return out
