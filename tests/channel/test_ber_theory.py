"""Uncoded BER of the digital link against closed forms written out here independently."""

import math

import pytest
import torch

from multisc.channel import ChannelSpec, DigitalLink, ber_theory


def q(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def closed_form_awgn(modulation: str, snr_db: float) -> float:
    g = 10 ** (snr_db / 10)
    if modulation == "bpsk":
        return q(math.sqrt(2 * g))
    if modulation == "qpsk":
        return q(math.sqrt(g))
    a = math.sqrt(g / 5)  # 16-QAM, Gray, unit average power
    return (3 * q(a) + 2 * q(3 * a) - q(5 * a)) / 4


def closed_form_rayleigh_bpsk(snr_db: float) -> float:
    g = 10 ** (snr_db / 10)
    return 0.5 * (1 - math.sqrt(g / (1 + g)))


def measured_ber(link: DigitalLink, spec: ChannelSpec, expected: float, seed: int) -> float:
    # Enough bits for ~12,000 expected errors: relative standard error ~0.9%, so the 5%
    # tolerance is more than 5 sigma away.
    n_bits = min(int(12_000 / expected), 24_000_000)
    g = torch.Generator().manual_seed(seed)
    errors = sent = 0
    while sent < n_bits:
        chunk = min(4_000_000, n_bits - sent)
        bits = torch.randint(0, 2, (1, chunk), generator=g)
        errors += int(link.send_bits(bits, spec, g).bit_errors.sum())
        sent += chunk
    return errors / sent


@pytest.mark.parametrize(
    ("modulation", "snrs"),
    [("bpsk", (0.0, 3.0, 6.0)), ("qpsk", (3.0, 6.0, 9.0)), ("16qam", (8.0, 12.0, 15.0))],
)
def test_uncoded_awgn_ber_matches_closed_form(modulation: str, snrs: tuple[float, ...]) -> None:
    link = DigitalLink(modulation, "none", device="cpu")
    for i, snr in enumerate(snrs):
        expected = closed_form_awgn(modulation, snr)
        ber = measured_ber(link, ChannelSpec(snr), expected, seed=i)
        assert ber == pytest.approx(expected, rel=0.05), (modulation, snr)


@pytest.mark.parametrize("coherence", [1, 8])
def test_uncoded_rayleigh_bpsk_matches_closed_form(coherence: int) -> None:
    link = DigitalLink("bpsk", "none", device="cpu")
    for i, snr in enumerate((0.0, 5.0, 10.0)):
        expected = closed_form_rayleigh_bpsk(snr)
        spec = ChannelSpec(snr, fading="rayleigh", coherence=coherence)
        # Block fading has fewer independent coefficients: more bits for the same precision.
        ber = measured_ber(link, spec, expected / coherence**0.5, seed=10 + i)
        assert ber == pytest.approx(expected, rel=0.05), (snr, coherence)


def test_packaged_theory_matches_closed_forms() -> None:
    for modulation in ("bpsk", "qpsk", "16qam"):
        for snr in (-2.0, 5.0, 11.0):
            assert ber_theory(modulation, snr) == pytest.approx(
                closed_form_awgn(modulation, snr), rel=1e-9
            )
    assert ber_theory("bpsk", 7.0, "rayleigh") == pytest.approx(closed_form_rayleigh_bpsk(7.0))
    # Rayleigh QPSK (Gray) per bit is BPSK Rayleigh at half the SNR.
    assert ber_theory("qpsk", 10.0, "rayleigh") == pytest.approx(
        closed_form_rayleigh_bpsk(10.0 - 10 * math.log10(2)), rel=1e-6
    )


def test_64qam_ber_matches_packaged_theory() -> None:
    link = DigitalLink("64qam", "none", device="cpu")
    expected = ber_theory("64qam", 18.0)
    assert measured_ber(link, ChannelSpec(18.0), expected, seed=3) == pytest.approx(
        expected, rel=0.05
    )
