import pytest

from multisc.codecs.jscc_shipped import shipped
from multisc.schemes import Components, SchemeOptions, build_scheme, scheme_names


@pytest.fixture(scope="module")
def components(tiny_models):
    """Tiny components, set small for CPU speed: every code path is the real one. Deep
    JSCC is the shipped k/n = 1/6 AWGN checkpoint alone (one ratio: budgets resize)."""
    (checkpoint,) = shipped("awgn", ratios=("1/6",))
    options = SchemeOptions(
        steps=2,
        generation_size=32,
        segment_size=96,
        caption_tokens=8,
        jscc_checkpoint=str(checkpoint),
    )
    return Components(tiny_models, "cpu", options)


@pytest.fixture(scope="module")
def schemes(components):
    return {name: build_scheme(name, components) for name in scheme_names()}
