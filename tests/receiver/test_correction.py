import pytest

from multisc.errors import InvalidInputError
from multisc.receiver.correction import BartCorrector, NoCorrector, SymSpellCorrector
from multisc.receiver.correctors import make_corrector


@pytest.fixture(scope="module")
def symspell():
    return SymSpellCorrector()


def test_symspell_fixes_the_example(symspell):
    assert symspell.correct(["a dgo runs on teh grass"]) == ["a dog runs on the grass"]


def test_symspell_uses_context_and_keeps_correct_words(symspell):
    texts = [
        "a rrd sailboat floats on a calm bkue lake",
        "two people ride bicycles along a city street at dusk",
        "",
    ]
    assert symspell.correct(texts) == [
        "a red sailboat floats on a calm blue lake",
        "two people ride bicycles along a city street at dusk",
        "",
    ]


def test_bart_batched_equals_one_by_one_and_empty_stays_empty(tiny_models):
    bart = BartCorrector.from_pretrained(tiny_models, device="cpu", max_length=24)
    texts = ["a dgo runs", "", "two peple ride bicycels along a street", "teh"]
    batched = bart.correct(texts)
    assert batched[1] == ""
    assert batched == [bart.correct([t])[0] for t in texts]


def test_make_corrector_by_name(tiny_models):
    assert isinstance(make_corrector("none"), NoCorrector)
    assert make_corrector("none").correct(["teh"]) == ["teh"]
    assert isinstance(make_corrector("bart", tiny_models, "cpu"), BartCorrector)
    with pytest.raises(InvalidInputError, match="bart, symspell, none"):
        make_corrector("gpt")


def test_bart_never_decodes_past_its_position_table():
    """A barely trained corrector that never emits its end token stops at the model's
    position table (128 here) instead of indexing past it (the 256-token default bound)."""
    from multisc.receiver.correction import BartCorrector
    from multisc.testing import synthetic_captions, tiny_bart_for

    model, tokenizer = tiny_bart_for(synthetic_captions(20))
    corrector = BartCorrector(model, tokenizer)
    assert corrector.max_length == model.config.max_position_embeddings == 128
    (text,) = corrector.correct(["a dgo runs on teh grass"])
    assert isinstance(text, str)
