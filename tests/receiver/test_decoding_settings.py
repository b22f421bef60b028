"""The corrector decodes with the settings multisc states, never the repo's.

The real corrector repo (oliverguhr/spelling-correction-english-base) keeps
``no_repeat_ngram_size: 3``, ``num_beams: 4`` and ``early_stopping`` in its config.json and has
no generation_config.json, so transformers applies them: a caption that repeats a
three-word phrase cannot come out unchanged. A tiny BART is trained here to copy its input
(``multisc corrector train``'s loop, seconds on a CPU), laid out like the real repo, and
must return such a caption unchanged; plain ``generate`` with the repo's settings is the
control that shows the test can fail.
"""

from __future__ import annotations

import json
import random

import pytest
import torch

from multisc.correction_tuning.pairs import Pair
from multisc.correction_tuning.training import train_corrector
from multisc.receiver.correction import BartCorrector
from multisc.testing import PLACES, SUBJECTS, VERBS, as_real_corrector_layout, tiny_bart_for

#: trains a tiny BART to copy its input (about 40 s): the full suite only
pytestmark = [pytest.mark.slow, pytest.mark.long]

#: repeats "runs on the grass" mid-sentence: more than three tokens, twice
REPEATING = "a cat runs on the grass and a dog runs on the grass"


def _sentences(n: int, seed: int) -> list[str]:
    """Two caption-like clauses joined by "and"; in most, the second repeats the first's
    verb and place with another subject (repeated phrases a copying corrector must keep)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        verb, place = rng.choice(VERBS), rng.choice(PLACES)
        first = f"{rng.choice(SUBJECTS)} {verb} {place}"
        if rng.random() < 0.7:
            second = f"{rng.choice(SUBJECTS)} {verb} {place}"
        else:
            second = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}"
        out.append(f"{first} and {second}")
    return [s for s in dict.fromkeys(out) if s != REPEATING]


@pytest.fixture(scope="module")
def copier(tmp_path_factory):
    """A tiny BART trained to copy, saved in the corrector repo's layout."""
    texts = _sentences(1500, seed=0)
    pairs = [Pair(t, t, 99.0, "train", 8 * len(t), 0) for t in texts]
    model, tokenizer = tiny_bart_for(texts, d_model=128)
    out = tmp_path_factory.mktemp("copier") / "corrector"
    train_corrector(
        pairs, [], out, model=model, tokenizer=tokenizer, steps=600, batch=32, lr=2e-3,
        device="cpu",
    )  # fmt: skip
    (out / "training_state.pt").unlink()
    as_real_corrector_layout(out)
    return out


def _plain_generate(directory, text: str) -> str:
    """What transformers gives with the checkpoint's own settings (the control)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = AutoModelForSeq2SeqLM.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    with torch.no_grad():
        ids = model.generate(**tokenizer([text], return_tensors="pt"), max_length=64)
    return tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip()


def test_the_repo_layout_carries_the_real_search_settings(copier):
    config = json.loads((copier / "config.json").read_text())
    assert config["no_repeat_ngram_size"] == 3 and config["num_beams"] == 4
    assert not (copier / "generation_config.json").exists()


def test_a_caption_repeating_a_phrase_comes_back_unchanged(copier):
    corrector = BartCorrector.from_pretrained(copier.parent, "cpu", max_length=64)
    assert corrector.correct([REPEATING]) == [REPEATING]
    # the control: the repo's own settings must alter it (no three-token phrase twice)
    assert _plain_generate(copier, REPEATING) != REPEATING


def test_a_corrector_fine_tuned_from_it_does_not_bring_the_settings_back(copier, tmp_path):
    texts = _sentences(200, seed=1)
    pairs = [Pair(t, t, 99.0, "train", 8 * len(t), 0) for t in texts]
    tuned = tmp_path / "corrector"
    train_corrector(pairs, [], tuned, base=copier, steps=5, batch=8, lr=1e-5, device="cpu")
    saved = json.loads((tuned / "generation_config.json").read_text())
    assert saved.get("no_repeat_ngram_size", 0) == 0 and saved.get("num_beams", 1) == 1
    assert "no_repeat_ngram_size" not in json.loads((tuned / "config.json").read_text())
    # even plain transformers now decodes it greedily, without n-gram blocking
    assert _plain_generate(tuned, REPEATING) == REPEATING
    corrector = BartCorrector.from_pretrained(tmp_path, "cpu", max_length=64)
    assert corrector.correct([REPEATING]) == [REPEATING]
