"""The full-size random component set: same components as the tiny set, real sizes."""

import pytest

from multisc.receiver.correction import BartCorrector
from multisc.testing import BUILDERS, FULL_BUILDERS, TINY_BUILDERS, build_bart


def test_one_builder_per_component_at_both_sizes():
    from multisc.models import REGISTRY

    assert set(BUILDERS) == set(TINY_BUILDERS) == set(FULL_BUILDERS) <= set(REGISTRY)


@pytest.mark.slow
def test_full_bart_has_bart_base_size_and_loads_through_the_registry_path(tmp_path):
    build_bart(tmp_path / "corrector", "full")
    corrector = BartCorrector.from_pretrained(tmp_path, "cpu", max_length=16)
    parameters = sum(p.numel() for p in corrector.model.parameters())
    assert 139e6 < parameters < 141e6  # facebook/bart-base: 139.4 M
    # greedy decoding, as stated (multisc.decoding): the same output every time
    assert corrector.correct(["a dgo", "a dgo"]) == corrector.correct(["a dgo"]) * 2
