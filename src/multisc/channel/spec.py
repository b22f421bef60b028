"""What a channel realisation is: SNR and fading."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from multisc.errors import InvalidInputError, choices_error

Fading = Literal["awgn", "rayleigh"]
FADINGS: tuple[str, ...] = ("awgn", "rayleigh")


#: beyond this the noise power 10^(-SNR/10) under- or overflows double precision's use here
MAX_ABS_SNR_DB = 200.0


@dataclass(frozen=True)
class ChannelSpec:
    """One channel condition.

    **SNR convention**: ``snr_db`` is Es/N0 per complex channel use. Transmitted
    symbols have unit average power, and the complex noise has total variance
    ``N0 = 10 ** (-snr_db / 10)`` (``N0 / 2`` per real dimension).

    :param snr_db: signal-to-noise ratio in dB; any finite value, negative included.
    :param fading: ``"awgn"``, or ``"rayleigh"``: i.i.d. CN(0, 1) block fading with one
        coefficient per ``coherence`` consecutive symbols, perfect CSI at the receiver.
    :param coherence: symbols per fading coefficient (1 = fast fading); ignored for AWGN.

    .. rubric:: Examples

    >>> spec = ChannelSpec(snr_db=10.0)
    >>> round(spec.noise_variance, 3)
    0.1
    >>> ChannelSpec(3.0, fading="rayleigh", coherence=16).fading
    'rayleigh'
    """

    snr_db: float
    fading: Fading = "awgn"
    coherence: int = 1

    def __post_init__(self) -> None:
        try:
            snr = float(self.snr_db)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"SNR must be a number in dB, got {self.snr_db!r}") from exc
        if not math.isfinite(snr):
            raise InvalidInputError(
                f"SNR must be a finite number of dB (negative values are fine), got {self.snr_db!r}"
            )
        if abs(snr) > MAX_ABS_SNR_DB:
            raise InvalidInputError(
                f"SNR must be within ±{MAX_ABS_SNR_DB:g} dB (a noise power of 10^±"
                f"{MAX_ABS_SNR_DB / 10:g}), got {snr:g} dB"
            )
        object.__setattr__(self, "snr_db", snr)
        if self.fading not in FADINGS:
            raise choices_error("fading", self.fading, FADINGS)
        if not isinstance(self.coherence, int) or self.coherence < 1:
            raise InvalidInputError(
                f"coherence must be a positive whole number of symbols, got {self.coherence!r}"
            )

    @property
    def noise_variance(self) -> float:
        """N0: total variance of the complex noise per channel use (unit signal power)."""
        return 10.0 ** (-self.snr_db / 10.0)
