"""Closed-form bit error rates of uncoded Gray-mapped modulations.

The SNR convention is [ChannelSpec][multisc.channel.spec.ChannelSpec]'s: Es/N0 per complex
channel use, unit average symbol power.
"""

from __future__ import annotations

import math

from scipy import integrate
from scipy.special import erfc

from multisc.errors import choices_error


def q_function(x: float) -> float:
    """Gaussian tail probability Q(x) = P(N(0, 1) > x)."""
    return 0.5 * erfc(x / math.sqrt(2.0))


def ber_awgn(modulation: str, snr_db: float) -> float:
    """Uncoded BER over AWGN at Es/N0 = ``snr_db``.

    - BPSK: ``Q(sqrt(2 g))``; QPSK (Gray): ``Q(sqrt(g))``;
    - M-QAM (Gray, square): exact per-bit error of the two sqrt(M)-PAM components,
      computed bit by bit over the decision regions (16-QAM gives
      ``(3Q(a) + 2Q(3a) - Q(5a)) / 4`` with ``a = sqrt(g / 5)``).
    """
    g = 10.0 ** (snr_db / 10.0)
    if modulation == "bpsk":
        return q_function(math.sqrt(2.0 * g))
    if modulation == "qpsk":
        return q_function(math.sqrt(g))
    if modulation in ("16qam", "64qam"):
        bits = 4 if modulation == "16qam" else 6
        return _gray_pam_ber(bits // 2, g, bits)
    raise choices_error("modulation", modulation, ("bpsk", "qpsk", "16qam", "64qam"))


def _gray_pam_ber(pam_bits: int, g: float, qam_bits: int) -> float:
    """Average bit error of one Gray-labelled 2^pam_bits-PAM axis of a square QAM."""
    levels = 2**pam_bits
    points = [2 * i - (levels - 1) for i in range(levels)]  # -(L-1) ... (L-1), spacing 2
    energy = 2 * sum(p * p for p in points) / levels  # average QAM symbol energy
    sigma = math.sqrt(energy / (2.0 * g))  # noise std per real dimension, in point units
    gray = [i ^ (i >> 1) for i in range(levels)]

    def cdf(x: float) -> float:
        return 1.0 - q_function(x / sigma)

    total = 0.0
    for i, p in enumerate(points):
        for bit in range(pam_bits):
            sent = (gray[i] >> bit) & 1
            # probability mass of decision regions whose label differs in this bit
            for j in range(levels):
                if (gray[j] >> bit) & 1 == sent:
                    continue
                lo = -math.inf if j == 0 else points[j] - 1
                hi = math.inf if j == levels - 1 else points[j] + 1
                total += cdf(hi - p) - cdf(lo - p)
    return total / (levels * pam_bits)


def ber_rayleigh(modulation: str, snr_db: float) -> float:
    """Uncoded BER over i.i.d. Rayleigh fading with perfect CSI, average Es/N0 = ``snr_db``.

    BPSK has the closed form ``0.5 (1 - sqrt(g / (1 + g)))``; the others are the AWGN BER
    averaged over the exponential distribution of the instantaneous SNR (numerically).
    """
    g = 10.0 ** (snr_db / 10.0)
    if modulation == "bpsk":
        return 0.5 * (1.0 - math.sqrt(g / (1.0 + g)))

    def integrand(t: float) -> float:
        inst = g * t
        return ber_awgn(modulation, 10.0 * math.log10(inst)) * math.exp(-t) if inst > 0 else 0.5

    value, _ = integrate.quad(integrand, 0.0, math.inf, limit=200)
    return value


def ber_theory(modulation: str, snr_db: float, fading: str = "awgn") -> float:
    """Uncoded BER for ``fading`` in {"awgn", "rayleigh"}."""
    if fading == "awgn":
        return ber_awgn(modulation, snr_db)
    if fading == "rayleigh":
        return ber_rayleigh(modulation, snr_db)
    raise choices_error("fading", fading, ("awgn", "rayleigh"))
