"""What every registered scheme must do, built-in or from a plugin: parametrised from the
registry (``scheme_names()``), run with the tiny components."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from multisc.channel import ChannelSpec, NRConfig
from multisc.errors import InvalidInputError
from multisc.experiment import safe_cache
from multisc.schemes import build_scheme
from multisc.schemes.catalog import get_spec, scheme_names


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


@pytest.fixture(scope="module", params=scheme_names())
def built(request, components):
    return request.param, build_scheme(request.param, components)


@pytest.fixture(scope="module")
def prepared(built, photo):
    return built[1].prepare(photo)


def test_reconstructions_are_rgb_at_the_size_of_the_image(built, prepared, photo):
    name, scheme = built
    results = scheme.transmit(prepared, [ChannelSpec(3.0), ChannelSpec(20.0)], g())
    assert len(results) == 2
    for result, snr in zip(results, (3.0, 20.0), strict=True):
        assert result.image.mode == "RGB" and result.image.size == photo.size, name
        assert result.spec.snr_db == snr and isinstance(result.failed, bool)
    assert scheme.transmit(prepared, [], g()) == []


def test_same_seed_same_output_other_seed_other_noise(built, prepared):
    name, scheme = built
    specs = [ChannelSpec(2.0)]
    a, b = scheme.transmit(prepared, specs, g(5))[0], scheme.transmit(prepared, specs, g(5))[0]
    assert np.array_equal(pixels(a.image), pixels(b.image)) and a.texts_received == b.texts_received
    c = scheme.transmit(prepared, specs, g(6))[0]
    noisy = a.texts_received != c.texts_received or not np.array_equal(
        pixels(a.image), pixels(c.image)
    )
    assert noisy or a.failed or "bit_errors" in a.details, name  # a decoded stream may be exact


def test_several_snrs_at_once_equal_one_by_one(built, prepared):
    name, scheme = built
    specs = [ChannelSpec(0.0), ChannelSpec(9.0, fading="rayleigh", coherence=4), ChannelSpec(18.0)]
    together = scheme.transmit(prepared, specs, g(3))
    alone = [scheme.transmit(prepared, [spec], g(3))[0] for spec in specs]
    for a, b in zip(together, alone, strict=True):
        assert a.texts_received == b.texts_received and a.channel_uses == b.channel_uses
        assert a.failed == b.failed
        # float32 kernels sum in a batch-size-dependent order: a few 1/255 at most
        assert np.abs(pixels(a.image) - pixels(b.image)).max() <= 3, name


def test_channel_uses_are_counted_and_do_not_depend_on_the_noise(built, prepared):
    name, scheme = built
    results = scheme.transmit(prepared, [ChannelSpec(s) for s in (-5.0, 5.0, 25.0)], g())
    uses = {r.channel_uses for r in results}
    assert len(uses) == 1 and next(iter(uses)) > 0, name
    for result in results:  # the account per link sums to the total, none negative
        assert result.link_uses and sum(result.link_uses.values()) == result.channel_uses, name
        assert min(result.link_uses.values()) >= 0, (name, result.link_uses)
    if hasattr(scheme, "channel_uses"):  # the semantic schemes' sum over their links
        assert next(iter(uses)) == scheme.channel_uses(prepared)


def test_prepares_survive_pickle_and_the_safe_cache(built, prepared):
    name, scheme = built
    for copy in (
        pickle.loads(pickle.dumps(prepared)),
        safe_cache.loads(safe_cache.dumps(prepared)),
    ):
        a = scheme.transmit(prepared, [ChannelSpec(6.0)], g(1))[0]
        b = scheme.transmit(copy, [ChannelSpec(6.0)], g(1))[0]
        assert np.array_equal(pixels(a.image), pixels(b.image)), name
        assert a.texts_received == b.texts_received


def test_a_lost_transmission_is_flagged_and_still_an_image(built, prepared, photo):
    name, scheme = built
    (result,) = scheme.transmit(prepared, [ChannelSpec(-15.0)], g())
    assert result.image.size == photo.size  # scored like any other, never dropped
    if get_spec(name).name == "bpg_ldpc":
        assert result.failed


@pytest.mark.parametrize("bad", ["not an image", None, np.zeros((0, 0, 3), np.uint8)])
def test_bad_inputs_are_one_clear_error(built, bad):
    _, scheme = built
    with pytest.raises(InvalidInputError, match=r"PIL image|no pixels"):
        scheme.prepare(bad)


#: a small NR link (4 PRBs) keeps the tiny runs fast; the chain is the one of any grid
NR_TDL_A = NRConfig("TDL-A", prbs=4, mcs=5)


def test_every_scheme_runs_over_nr_and_counts_data_and_pilot_res(built, prepared, photo):
    name, scheme = built
    specs = [ChannelSpec(-10.0, nr=NR_TDL_A), ChannelSpec(25.0, nr=NR_TDL_A)]
    low, high = scheme.transmit(prepared, specs, g(4))
    for result in (low, high):
        assert result.image.mode == "RGB" and result.image.size == photo.size, name
        assert result.spec.nr == NR_TDL_A
        # DMRS REs are part of the channel uses: 2 of 14 OFDM symbols, plus side info
        assert 0 < result.pilot_uses < result.channel_uses, name
        assert sum(result.link_uses.values()) == result.channel_uses, (name, result.link_uses)
    assert high.pilot_uses == low.pilot_uses, name
    budget = getattr(prepared, "budget_channel_uses", None)
    if get_spec(name).budget and budget is not None:  # REs, DMRS and slot padding included
        assert high.channel_uses <= budget, (name, high.channel_uses, budget)
    again = scheme.transmit(prepared, specs[1:], g(4))[0]  # alone: the same channel and noise
    assert again.texts_received == high.texts_received and again.failed == high.failed
    assert np.abs(pixels(again.image) - pixels(high.image)).max() <= 3, name  # float32 batches
    if name == "bpg_ldpc":  # deep fades at -10 dB: failed TBs, the failure image, no crash
        assert low.failed and not high.failed
        assert low.details["block_errors"] > 0 and high.details["block_errors"] == 0
    if name == "deep_jscc":  # degrades gracefully
        error = {r.spec.snr_db: np.abs(pixels(r.image) - pixels(photo)).mean() for r in (low, high)}
        assert error[-10.0] > error[25.0], error


#: modules a scheme's registration must not import: listing schemes and every refusal read
#: every entry point, and would wait seconds for these
HEAVY = ("torch", "diffusers", "transformers", "sionna", "tensorflow")


@pytest.mark.parametrize("name", scheme_names())
def test_its_registration_imports_no_heavy_module(name):
    """In a fresh process: the built-in registrations, or this plugin's entry point alone,
    loaded without torch, diffusers, transformers or Sionna (the scheme's code is named by
    its spec, ``"module:function"``, and imported when the scheme is built)."""
    import subprocess
    import sys

    code = (
        "import importlib.metadata as md, sys\n"
        "from multisc.schemes.builtin import BUILTIN_SCHEMES\n"
        f"name = {name!r}\n"
        "if name not in {s.name for s in BUILTIN_SCHEMES}:\n"
        "    found = [e for e in md.entry_points(group='multisc.schemes') if e.name == name]\n"
        "    assert found, f'{name} is not an installed entry point'\n"
        "    found[0].load()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = done.stdout.strip()
    assert not loaded, (
        f"loading scheme {name!r}'s registration imported {loaded}: import them in the "
        'module the spec\'s build names ("package.module:build"), not where SPEC is'
    )
