"""What a channel realisation is (SNR and fading), and the names of the modulations and
codes a digital link offers. Light to import: no torch, no Sionna."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from multisc.errors import InvalidInputError, choices_error

#: modulation name -> (Sionna constellation type, bits per symbol). BPSK is 2-PAM on
#: the real axis; the QAMs are Sionna's Gray-labelled, unit-power 3GPP constellations.
MODULATIONS: dict[str, tuple[str, int]] = {
    "bpsk": ("pam", 1),
    "qpsk": ("qam", 2),
    "16qam": ("qam", 4),
    "64qam": ("qam", 6),
}
FECS: tuple[str, ...] = ("none", "ldpc")


if TYPE_CHECKING:
    from multisc.channel.nr_config import NRConfig

Fading = Literal["awgn", "rayleigh", "nr"]
FADINGS: tuple[str, ...] = ("awgn", "rayleigh", "nr")


#: beyond this the noise power 10^(-SNR/10) under- or overflows double precision's use here
MAX_ABS_SNR_DB = 200.0


@dataclass(frozen=True)
class ChannelSpec:
    """One channel condition.

    **SNR convention**: ``snr_db`` is Es/N0 per complex channel use. Transmitted
    symbols have unit average power, and the complex noise has total variance
    ``N0 = 10 ** (-snr_db / 10)`` (``N0 / 2`` per real dimension).

    Examples:

    ```pycon
    >>> spec = ChannelSpec(snr_db=10.0)
    >>> round(spec.noise_variance, 3)
    0.1
    >>> ChannelSpec(3.0, fading="rayleigh", coherence=16).fading
    'rayleigh'

    ```

    :param snr_db: signal-to-noise ratio in dB; any finite value, negative included.
    :param fading: ``"awgn"``, or ``"rayleigh"``: i.i.d. CN(0, 1) block fading with one
        coefficient per ``coherence`` consecutive symbols, perfect CSI at the receiver.
        Or ``"nr"``: a 5G NR link (OFDM, DMRS, 3GPP fading, channel estimation), set by
        ``nr`` ([NRConfig][multisc.channel.nr_config.NRConfig]; default ``NRConfig()``). Over NR
        the SNR is the same Es/N0, per resource element.
    :param coherence: symbols per fading coefficient (1 = fast fading); ignored for AWGN.
    :param nr: the NR link when ``fading == "nr"`` (giving it implies ``"nr"``).
    """

    snr_db: float
    fading: Fading = "awgn"
    coherence: int = 1
    nr: NRConfig | None = None

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
        if self.nr is not None:
            object.__setattr__(self, "fading", "nr")
        if self.fading not in FADINGS:
            raise choices_error("fading", self.fading, FADINGS)
        if self.fading == "nr" and self.nr is None:
            from multisc.channel.nr_config import NRConfig

            object.__setattr__(self, "nr", NRConfig())
        if not isinstance(self.coherence, int) or self.coherence < 1:
            raise InvalidInputError(
                f"coherence must be a positive whole number of symbols, got {self.coherence!r}"
            )

    @property
    def label(self) -> str:
        """The channel's name in stores and reports: ``awgn``, ``rayleigh`` or the NR link's
        ``label``."""
        return self.nr.label if self.nr is not None else self.fading

    @property
    def noise_variance(self) -> float:
        """N0: total variance of the complex noise per channel use (unit signal power)."""
        return 10.0 ** (-self.snr_db / 10.0)
