import pytest

from multisc.schemes import Components, SchemeOptions, build_scheme


@pytest.fixture(scope="module")
def components(tiny_models, trained_jscc):
    """Tiny components, set small for CPU speed: every code path is the real one."""
    options = SchemeOptions(
        steps=2,
        generation_size=32,
        segment_size=96,
        caption_tokens=8,
        jscc_checkpoint=trained_jscc[0],
    )
    return Components(tiny_models, "cpu", options)


@pytest.fixture(scope="module")
def schemes(components):
    return {
        name: build_scheme(name, components)
        for name in ("multisc", "single_text", "vlm_csc", "bpg_ldpc", "deep_jscc")
    }
