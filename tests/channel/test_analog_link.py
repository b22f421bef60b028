import math

import pytest
import torch

from multisc.channel import AnalogLink, ChannelSpec
from multisc.channel.medium import fading_coefficients


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_awgn_output_mse_equals_noise_variance_times_power(snr, generator):
    x = torch.rand(3, 3, 64, 64, generator=generator) * torch.tensor([1.0, 3.0, 0.2]).view(
        3, 1, 1, 1
    )
    result = AnalogLink().send(x, ChannelSpec(snr), generator)
    mse = ((result.received - x) ** 2).flatten(1).mean(1)
    power = (x.flatten(1) ** 2).sum(1) / (x[0].numel() / 2)  # per complex symbol, per item
    assert torch.allclose(result.power, power, rtol=1e-5)
    expected = power * ChannelSpec(snr).noise_variance / 2  # N0/2 per real dimension
    assert torch.allclose(mse, expected, rtol=0.03)


def test_channel_uses_and_odd_sizes(generator):
    x = torch.rand(2, 3, 5, 7, generator=generator)  # 105 reals: odd, one zero pads the pair
    result = AnalogLink().send(x, ChannelSpec(60.0), generator)
    assert result.channel_uses == math.ceil(105 / 2) + 1
    assert result.received.shape == x.shape
    assert torch.allclose(result.received, x, atol=1e-2)


def test_rayleigh_lmmse_is_finite_and_improves_with_snr(generator):
    x = torch.rand(1, 3, 32, 32, generator=generator)
    mses = []
    for snr in (0.0, 10.0, 20.0):
        spec = ChannelSpec(snr, fading="rayleigh", coherence=16)
        out = AnalogLink().send(x, spec, generator).received
        assert torch.isfinite(out).all()
        mses.append(float(((out - x) ** 2).mean()))
    assert mses[0] > mses[1] > mses[2]


def test_block_fading_coefficients_are_constant_within_a_block(generator):
    h = fading_coefficients(
        (2, 10), ChannelSpec(0.0, "rayleigh", 4), generator, torch.device("cpu")
    )
    assert h is not None and h.shape == (2, 10)
    assert torch.equal(h[:, 0], h[:, 3]) and not torch.equal(h[:, 3], h[:, 4])
    assert torch.equal(h[:, 8], h[:, 9])
    many = fading_coefficients(
        (200_000,), ChannelSpec(0.0, "rayleigh"), generator, torch.device("cpu")
    )
    assert float((many.abs() ** 2).mean()) == pytest.approx(1.0, rel=0.02)  # E|h|^2 = 1


def test_same_seed_same_output_and_empty_input():
    x = torch.rand(1, 100)
    a = AnalogLink().send(x, ChannelSpec(5.0), torch.Generator().manual_seed(3)).received
    b = AnalogLink().send(x, ChannelSpec(5.0), torch.Generator().manual_seed(3)).received
    c = AnalogLink().send(x, ChannelSpec(5.0), torch.Generator().manual_seed(4)).received
    assert torch.equal(a, b) and not torch.equal(a, c)
    empty = AnalogLink().send(torch.zeros(2, 0), ChannelSpec(5.0), torch.Generator())
    assert empty.channel_uses == 0 and empty.received.shape == (2, 0)


def test_all_zero_item_stays_finite(generator):
    out = AnalogLink().send(torch.zeros(1, 3, 4, 4), ChannelSpec(0.0), generator)
    assert torch.isfinite(out.received).all()
    assert float(out.received.abs().max()) < 1e-6
