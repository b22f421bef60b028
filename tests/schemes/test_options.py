"""Per-scheme options: ``options: {NAME: {...}}`` overrides shared options for that scheme
alone, validated, documented; correctors and slice links come from their registries."""

import pytest

from multisc.errors import InvalidInputError
from multisc.experiment.config import load_config
from multisc.receiver.correctors import CORRECTOR_REGISTRY, make_corrector
from multisc.schemes import Components, SchemeOptions, build_scheme
from multisc.schemes.slice_links import SLICE_LINK_REGISTRY


def test_an_override_applies_to_its_scheme_alone(tiny_models):
    options = SchemeOptions(
        steps=2, generation_size=32, segment_size=96, caption_tokens=8,
        schemes={"single_text": {"text_modulation": "qpsk", "slice_link": "hevc-ldpc"}},
    )  # fmt: skip
    components = Components(tiny_models, "cpu", options)
    multisc, single = build_scheme("multisc", components), build_scheme("single_text", components)
    assert multisc.text_link.modulation == "bpsk" and single.text_link.modulation == "qpsk"
    assert type(multisc.slice_link).__name__ == "AnalogSlice"
    assert type(single.slice_link).__name__ == "HevcLdpcSlice"
    # the models both read with the same settings are loaded once
    assert multisc.captioner is single.captioner and multisc.generator is single.generator


def test_config_overrides_are_validated_with_the_keys_a_scheme_accepts(tmp_path):
    config = load_config(None, options={"vlm_csc": {"steps": 5}, "steps": 9})
    options = config.scheme_options()
    assert options.steps == 9 and options.for_scheme("vlm_csc").steps == 5
    assert options.for_scheme("multisc").steps == 9
    with pytest.raises(InvalidInputError, match="unknown setting 'rows' of scheme 'bpg_ldpc'"):
        load_config(None, options={"bpg_ldpc": {"rows": 3}})
    with pytest.raises(InvalidInputError, match="option steps: 0 is not an integer in"):
        load_config(None, options={"vlm_csc": {"steps": 0}})


def test_every_option_is_documented():
    helps = SchemeOptions.help()
    assert all(text for text in helps.values()), [k for k, v in helps.items() if not v]


def test_correctors_and_slice_links_come_from_their_registries():
    assert CORRECTOR_REGISTRY.names()[:3] == ("bart", "symspell", "none")
    assert CORRECTOR_REGISTRY.get("bart").needs == ("corrector",)
    assert make_corrector("none").correct(["a dgo"]) == ["a dgo"]
    assert SLICE_LINK_REGISTRY.names()[:3] == ("analog", "jscc", "hevc-ldpc")
    with pytest.raises(InvalidInputError, match=r"unknown corrector 'gpt'.*bart, symspell, none"):
        make_corrector("gpt")
    with pytest.raises(InvalidInputError, match="unknown slice link 'fax'"):
        SLICE_LINK_REGISTRY.get("fax")
