import math
import shutil

import pytest
import torch

from multisc.channel import ChannelSpec, DigitalLink
from multisc.correction_tuning.evaluation import evaluate, load_corrector
from multisc.correction_tuning.pairs import (
    make_pairs,
    parse_snr_range,
    read_pairs,
    read_texts,
    write_pairs,
)
from multisc.correction_tuning.training import train_corrector
from multisc.errors import InvalidInputError
from multisc.receiver.correction import BartCorrector
from multisc.testing import synthetic_captions, tiny_bart_for


@pytest.fixture(scope="module")
def link():
    return DigitalLink("bpsk", device="cpu")


@pytest.fixture(scope="module")
def corpus():
    return synthetic_captions(600, seed=0)


def test_pairs_are_deterministic_under_a_seed(link, corpus):
    a, _ = make_pairs(corpus[:50], (0.0, 6.0), link, per_text=2, seed=3)
    b, _ = make_pairs(corpus[:50], (0.0, 6.0), link, per_text=2, seed=3)
    c, _ = make_pairs(corpus[:50], (0.0, 6.0), link, per_text=2, seed=4)
    assert a == b and a != c
    assert all(0.0 <= p.snr_db <= 6.0 for p in a)


def test_pair_error_rate_matches_the_link_ber(link, corpus):
    pairs, report = make_pairs(corpus[:300], (3.0, 3.0), link, per_text=4, seed=0)
    assert report.pairs == 1200
    ber = sum(p.bit_errors for p in pairs) / sum(p.bits for p in pairs)
    g = 10**0.3
    assert ber == pytest.approx(0.5 * math.erfc(math.sqrt(g)), rel=0.06)  # BPSK, ~8k errors
    assert all((p.noisy == p.clean) == (p.bit_errors == 0) for p in pairs)


def test_splits_share_no_clean_text(link, corpus):
    pairs, report = make_pairs(corpus, (0.0, 8.0), link, per_text=2, heldout_fraction=0.2)
    train = {p.clean for p in pairs if p.split == "train"}
    heldout = {p.clean for p in pairs if p.split == "heldout"}
    assert train and heldout and not train & heldout
    assert 0.1 < report.heldout / report.pairs < 0.3


@pytest.fixture(scope="module")
def trained(tmp_path_factory, link, corpus):
    """A tiny BART trained from scratch here on channel-noised synthetic captions."""
    pairs, _ = make_pairs(corpus, (2.0, 8.0), link, per_text=3, seed=0, heldout_fraction=0.15)
    train = [p for p in pairs if p.split == "train"]
    heldout = [p for p in pairs if p.split == "heldout"]
    model, tokenizer = tiny_bart_for(corpus, d_model=128)
    out = tmp_path_factory.mktemp("tuned")
    result = train_corrector(
        train,
        heldout[:48],
        out,
        model=model,
        tokenizer=tokenizer,
        steps=300,
        batch=32,
        lr=2e-3,
        eval_every=150,
        device="cpu",
    )
    return out, result, sorted({p.clean for p in heldout})


@pytest.mark.slow
def test_tiny_bart_from_scratch_lowers_heldout_cer_at_4db(trained, link):
    out, result, heldout_texts = trained
    assert result.heldout_loss is not None and result.heldout_loss < 1.0
    test_pairs, _ = make_pairs(
        heldout_texts, (4.0, 4.0), link, per_text=2, seed=9, heldout_fraction=1.0
    )
    name, corrector = load_corrector(str(out))
    rows = {r["corrector"]: r for r in evaluate(test_pairs, {name: corrector})}
    assert rows[name]["cer"] < 0.6 * rows["none"]["cer"]
    assert rows[name]["wer"] < rows["none"]["wer"] and rows[name]["bleu"] > rows["none"]["bleu"]


@pytest.mark.slow
def test_saved_corrector_loads_through_the_registry_and_runs_in_multisc(
    trained, tiny_models, tmp_path, photo
):
    from multisc.schemes import Components, SchemeOptions, build_scheme

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models, ignore=shutil.ignore_patterns("corrector"))
    shutil.copytree(trained[0], models / "corrector")
    corrector = BartCorrector.from_pretrained(models, "cpu")
    assert corrector.correct(["a dgo runs on the grass"])[0].startswith("a d")
    options = SchemeOptions(steps=2, segment_size=96, caption_tokens=8)
    scheme = build_scheme("multisc", Components(models, "cpu", options))
    (result,) = scheme.transmit(
        scheme.prepare(photo), [ChannelSpec(5.0)], torch.Generator().manual_seed(0)
    )
    assert len(result.texts_corrected) == 4 and result.image.size == photo.size


def test_training_resumes_after_a_stop(tmp_path, link, corpus):
    pairs, _ = make_pairs(corpus[:40], (4.0, 8.0), link, per_text=1)
    model, tokenizer = tiny_bart_for(corpus[:40])
    first = train_corrector(
        pairs,
        [],
        tmp_path / "run",
        model=model,
        tokenizer=tokenizer,
        steps=2,
        batch=4,
        checkpoint_every=2,
        device="cpu",
    )
    assert first.resumed_from == 0
    second = train_corrector(pairs, [], tmp_path / "run", steps=4, batch=4, device="cpu")
    assert second.resumed_from == 2 and second.steps == 4


def test_bad_inputs_are_clear_errors(tmp_path, link):
    with pytest.raises(InvalidInputError, match="LOW > HIGH"):
        parse_snr_range("8:2")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InvalidInputError, match="empty"):
        read_texts(empty)
    pairs, report = make_pairs(["word " * 200, "short text"], (5.0, 5.0), link, max_chars=50)
    assert report.truncated == 1 and max(len(p.clean) for p in pairs) <= 50
    path = tmp_path / "pairs.jsonl"
    write_pairs(pairs, path)
    with path.open("a") as handle:
        handle.write('{"noisy": "x"}\n')
    with pytest.raises(InvalidInputError, match="line 9"):
        read_pairs(path)
    with pytest.raises(InvalidInputError, match="neither"):
        load_corrector("gpt-corrector")
